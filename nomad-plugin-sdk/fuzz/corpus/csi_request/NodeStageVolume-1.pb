
vol-1[/var/nomad/client/csi/node/hostpath/staging/default/vol-1/rw-file-system-single-node-writer"
ext4noatime*
tokens3cr3t
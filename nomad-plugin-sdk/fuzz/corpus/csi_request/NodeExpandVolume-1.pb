
vol-1Z/var/nomad/client/csi/node/hostpath/per-alloc/5f1c/vol-1/rw-file-system-single-node-writer€€€€"[/var/nomad/client/csi/node/hostpath/staging/default/vol-1/rw-file-system-single-node-writer*
ext4noatime2
tokens3cr3t
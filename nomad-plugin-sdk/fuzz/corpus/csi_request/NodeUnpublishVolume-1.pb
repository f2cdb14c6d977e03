
vol-1Z/var/nomad/client/csi/node/hostpath/per-alloc/5f1c/vol-1/rw-file-system-single-node-writer
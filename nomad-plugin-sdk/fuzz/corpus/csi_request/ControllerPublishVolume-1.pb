
vol-1node-1
ext4noatime*
tokens3cr3t2
kv

vol-1
ext4noatime

vol-1snap-1
tokens3cr3t
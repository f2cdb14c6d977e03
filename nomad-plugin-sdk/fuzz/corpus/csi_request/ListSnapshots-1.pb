vol-1*
tokens3cr3t
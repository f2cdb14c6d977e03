image = "x"
ratio = -0.000000000000000000000000001
labels = {}
devices = []

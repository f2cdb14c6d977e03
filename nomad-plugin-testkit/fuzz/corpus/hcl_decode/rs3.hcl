command = "x"
env = {}
args = ["${"a"}", "", "multi\nline"]

command = "sleep"
args = []

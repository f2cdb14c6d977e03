command = "/bin/sh"
args = ["-c", "echo hello; exit 3"]
cwd = "/tmp"
env = { FOO = "bar", "Ünïcode" = "✓" }

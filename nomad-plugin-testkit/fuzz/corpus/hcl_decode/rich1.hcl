image = "busybox:1.36"
args = ["a", "b"]
labels = { team = "infra", tier = "1" }
cpu_hard_limit = true
port = 8080
weight = -9223372036854775808
ratio = 0.1
mount { source = "/srv" }
mount {
  source = "/data"
  readonly = true
}
logging { driver = "journald" }
volume "a" { driver = "local" }
volume "b" {}
devices = [{ host_path = "/dev/fuse" }, {}]

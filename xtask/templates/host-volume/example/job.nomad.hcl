job "{{name}}-example" {
  group "g" {
    volume "data" {
      type   = "host"
      source = "{{name}}-example"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "ls -la $NOMAD_TASK_DIR; sleep 3600"]
      }
      volume_mount {
        volume      = "data"
        destination = "/data"
      }
    }
  }
}

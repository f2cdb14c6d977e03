job "{{name}}-example" {
  group "g" {
    task "t" {
      driver = "{{name}}"

      config {
        command = "/bin/sh"
        args    = ["-c", "echo hello from $NOMAD_TASK_NAME; sleep 3600"]
      }

      kill_signal  = "SIGTERM"
      kill_timeout = "10s"
    }
  }
}

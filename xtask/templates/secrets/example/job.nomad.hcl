job "{{name}}-example" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $VALUE; sleep 3600"]
      }
      secret "example" {
        provider = "{{name}}"
        path     = "example"
      }
      env {
        VALUE = "${secret.example.value}"
      }
    }
  }
}

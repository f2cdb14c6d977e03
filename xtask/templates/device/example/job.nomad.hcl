job "{{name}}-example" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $EXAMPLE_CARDS; sleep 3600"]
      }
      resources {
        device "example/card" {
          count = 1
        }
      }
    }
  }
}

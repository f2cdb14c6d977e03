job "{{name}}-example" {
  group "g" {
    count = 1
    scaling {
      min     = 1
      max     = 5
      enabled = true
      policy {
        check "metric" {
          source = "{{name}}"
          query  = "42"
          strategy "target-value" {
            target = 10
          }
        }
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
    }
  }
}

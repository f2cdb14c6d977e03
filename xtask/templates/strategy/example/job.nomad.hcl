job "{{name}}-example" {
  group "g" {
    count = 1
    scaling {
      min     = 1
      max     = 5
      enabled = true
      policy {
        check "metric" {
          source = "prometheus"
          query  = "avg(nomad_client_allocs_cpu_total_percent)"
          strategy "{{name}}" {
            upper = 80
            lower = 20
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

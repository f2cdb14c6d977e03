# A cluster scaling policy (autoscaler policy_dir) whose target is this plugin.
scaling "{{name}}-example" {
  enabled = true
  min     = 1
  max     = 10
  policy {
    check "load" {
      source = "nomad-apm"
      query  = "percentage-allocated_cpu"
      strategy "target-value" {
        target = 70
      }
    }
    target "{{name}}" {}
  }
}

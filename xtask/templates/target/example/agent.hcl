# Nomad Autoscaler agent configuration.
plugin_dir = "/opt/nomad-autoscaler/plugins"

target "{{name}}" {
  driver = "{{name}}"
}

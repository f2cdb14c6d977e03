# Nomad Autoscaler agent configuration.
plugin_dir = "/opt/nomad-autoscaler/plugins"

apm "{{name}}" {
  driver = "{{name}}"
  config = {}
}

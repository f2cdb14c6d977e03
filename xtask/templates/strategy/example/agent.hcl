# Nomad Autoscaler agent configuration.
plugin_dir = "/opt/nomad-autoscaler/plugins"

strategy "{{name}}" {
  driver = "{{name}}"
}

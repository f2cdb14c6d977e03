plugin_dir = "/opt/nomad/plugins"

plugin "{{name}}" {
  config {
    model = "basic"
  }
}

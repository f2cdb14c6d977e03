client {
  enabled                = true
  host_volume_plugin_dir = "/opt/nomad/host_volume_plugins"
}

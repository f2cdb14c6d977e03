# The client looks for secret providers in <common_plugin_dir>/secrets/.
client {
  enabled           = true
  common_plugin_dir = "/opt/nomad/common_plugins"
}

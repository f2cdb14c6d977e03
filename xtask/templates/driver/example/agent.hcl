plugin_dir = "/opt/nomad/plugins"

plugin "{{name}}" {
  config {
    # Sent to stop a task whose job sets no kill_signal.
    default_signal = "SIGINT"
    # Task records (spec, exit status): must survive plugin restarts.
    state_dir = "/var/lib/nomad/{{name}}"
  }
}

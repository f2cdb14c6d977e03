# The agent configuration a Nomad operator would write for rsexec.
plugin "rsexec" {
  config {
    default_signal = "SIGTERM"
  }
}

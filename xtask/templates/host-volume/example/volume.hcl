# nomad volume create volume.hcl
name      = "{{name}}-example"
type      = "host"
plugin_id = "{{name}}"
capacity_min = "10MiB"
capacity_max = "20MiB"
capability {
  access_mode     = "single-node-writer"
  attachment_mode = "file-system"
}

# nomad volume create example/volume.hcl
id        = "{{name}}-example"
name      = "{{name}}-example"
type      = "csi"
plugin_id = "{{name}}"

capacity_min = "1GiB"

capability {
  access_mode     = "single-node-writer"
  attachment_mode = "file-system"
}

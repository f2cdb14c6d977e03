# Runs {{name}} on every client, as controller and node in one task.
job "{{name}}" {
  type = "system"

  group "plugin" {
    task "plugin" {
      driver = "raw_exec" # or docker with privileged = true and the binary in an image

      config {
        command = "/opt/nomad/csi/{{name}}"
        args = [
          "--data-dir", "/srv/{{name}}",
          "--node-id", "${node.unique.name}",
        ]
      }

      csi_plugin {
        id        = "{{name}}"
        type      = "monolith"
        mount_dir = "/csi"
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}

# A job that mounts the volume of example/volume.hcl.
job "{{name}}-example" {
  group "g" {
    volume "data" {
      type            = "csi"
      source          = "{{name}}-example"
      access_mode     = "single-node-writer"
      attachment_mode = "file-system"
    }

    task "t" {
      driver = "docker"

      config {
        image   = "busybox:1.36"
        command = "sh"
        args    = ["-c", "date >> /data/log; cat /data/log; sleep 3600"]
      }

      volume_mount {
        volume      = "data"
        destination = "/data"
      }
    }
  }
}

//! The paths and names Nomad's client uses for CSI volumes
//! (`client/pluginmanager/csimanager`), so the suite calls a plugin with
//! exactly what a Nomad client would send.

use std::path::{Path, PathBuf};

/// Nomad's attachment modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentMode {
    /// `file-system` (a mount capability).
    FileSystem,
    /// `block-device` (a block capability).
    BlockDevice,
}

impl AttachmentMode {
    /// Nomad's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentMode::FileSystem => "file-system",
            AttachmentMode::BlockDevice => "block-device",
        }
    }
}

/// How an allocation uses a volume; Nomad stages and publishes each usage
/// at its own path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// `read_only` in the job's `volume` block.
    pub read_only: bool,
    /// File system or block device.
    pub attachment_mode: AttachmentMode,
    /// Nomad's access mode name, e.g. `single-node-writer`.
    pub access_mode: String,
}

impl Usage {
    /// A read-write file-system `single-node-writer` usage, the most common.
    pub fn single_node_writer() -> Self {
        Usage {
            read_only: false,
            attachment_mode: AttachmentMode::FileSystem,
            access_mode: "single-node-writer".into(),
        }
    }

    /// The path segment Nomad derives from the usage
    /// (`rw-file-system-single-node-writer`).
    pub fn to_fs(&self) -> String {
        format!(
            "{}-{}-{}",
            if self.read_only { "ro" } else { "rw" },
            self.attachment_mode.as_str(),
            self.access_mode
        )
    }
}

/// `<root>/staging/<namespace>/<volume>/<usage>`: where Nomad asks the
/// plugin to stage a volume (Nomad creates this directory, mode 0700).
pub fn staging_path(root: &Path, namespace: &str, volume: &str, usage: &Usage) -> PathBuf {
    root.join("staging")
        .join(namespace)
        .join(volume)
        .join(usage.to_fs())
}

/// `<root>/per-alloc/<alloc>/<volume>/<usage>`: where Nomad asks the plugin
/// to publish a volume for one allocation (Nomad creates the parent, the
/// plugin the target).
pub fn target_path(root: &Path, alloc: &str, volume: &str, usage: &Usage) -> PathBuf {
    root.join("per-alloc")
        .join(alloc)
        .join(volume)
        .join(usage.to_fs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_nomad() {
        let u = Usage::single_node_writer();
        assert_eq!(u.to_fs(), "rw-file-system-single-node-writer");
        assert_eq!(
            staging_path(Path::new("/csi"), "default", "vol", &u),
            Path::new("/csi/staging/default/vol/rw-file-system-single-node-writer")
        );
        let ro = Usage {
            read_only: true,
            attachment_mode: AttachmentMode::BlockDevice,
            access_mode: "multi-node-reader-only".into(),
        };
        assert_eq!(
            target_path(Path::new("/csi"), "a1", "vol", &ro),
            Path::new("/csi/per-alloc/a1/vol/ro-block-device-multi-node-reader-only")
        );
    }
}

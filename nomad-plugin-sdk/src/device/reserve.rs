//! What a device plugin answers to `Reserve`: how the task gets at the
//! devices.

use std::collections::BTreeMap;

use nomad_plugin_proto::nomad::device as pb;

/// How to expose reserved devices to a task: environment variables, bind
/// mounts and device nodes. Nomad merges the variables into the task's
/// environment and hands mounts and device nodes to the task driver.
///
/// ```
/// use nomad_plugin_sdk::device::{ContainerReservation, DeviceSpec, Mount};
///
/// let r = ContainerReservation::new()
///     .env("ACME_VISIBLE_CARDS", "card-0,card-1")
///     .mount(Mount::read_only("/opt/acme/lib", "/usr/local/acme/lib"))
///     .device(DeviceSpec::new("/dev/acme0"));
/// assert!(!r.is_empty());
/// assert_eq!(r.devices[0].permissions, "rwm");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerReservation {
    /// Environment variables for the task.
    pub envs: BTreeMap<String, String>,
    /// Bind mounts for the task.
    pub mounts: Vec<Mount>,
    /// Device nodes for the task.
    pub devices: Vec<DeviceSpec>,
}

impl ContainerReservation {
    /// An empty reservation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.envs.insert(key.into(), value.into());
        self
    }

    /// Adds a bind mount.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Adds a device node.
    pub fn device(mut self, device: DeviceSpec) -> Self {
        self.devices.push(device);
        self
    }

    /// Nothing to expose at all.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty() && self.mounts.is_empty() && self.devices.is_empty()
    }

    /// Checks what drivers need: absolute paths and cgroup permissions made
    /// of `r`, `w` and `m`.
    pub fn validate(&self) -> Result<(), String> {
        for m in &self.mounts {
            if !m.host_path.starts_with('/') || !m.task_path.starts_with('/') {
                return Err(format!(
                    "mount {:?} -> {:?}: both paths must be absolute",
                    m.host_path, m.task_path
                ));
            }
        }
        for d in &self.devices {
            if !d.host_path.starts_with('/') || !d.task_path.starts_with('/') {
                return Err(format!(
                    "device {:?} -> {:?}: both paths must be absolute",
                    d.host_path, d.task_path
                ));
            }
            if d.permissions.is_empty() || !d.permissions.chars().all(|c| "rwm".contains(c)) {
                return Err(format!(
                    "device {:?}: permissions {:?} must be a combination of r, w and m",
                    d.host_path, d.permissions
                ));
            }
        }
        if let Some(k) = self.envs.keys().find(|k| k.is_empty() || k.contains('=')) {
            return Err(format!("environment variable name {k:?} is not valid"));
        }
        Ok(())
    }

    /// Converts to the wire type.
    pub(crate) fn to_proto(&self) -> pb::ContainerReservation {
        pb::ContainerReservation {
            envs: self
                .envs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            mounts: self
                .mounts
                .iter()
                .map(|m| pb::Mount {
                    task_path: m.task_path.clone(),
                    host_path: m.host_path.clone(),
                    read_only: m.read_only,
                })
                .collect(),
            devices: self
                .devices
                .iter()
                .map(|d| pb::DeviceSpec {
                    task_path: d.task_path.clone(),
                    host_path: d.host_path.clone(),
                    permissions: d.permissions.clone(),
                })
                .collect(),
        }
    }

    /// Reads a reservation from the wire.
    #[cfg_attr(not(feature = "host"), allow(dead_code))] // the host's direction
    pub(crate) fn from_proto(p: &pb::ContainerReservation) -> Self {
        ContainerReservation {
            envs: p.envs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            mounts: p
                .mounts
                .iter()
                .map(|m| Mount {
                    host_path: m.host_path.clone(),
                    task_path: m.task_path.clone(),
                    read_only: m.read_only,
                })
                .collect(),
            devices: p
                .devices
                .iter()
                .map(|d| DeviceSpec {
                    host_path: d.host_path.clone(),
                    task_path: d.task_path.clone(),
                    permissions: d.permissions.clone(),
                })
                .collect(),
        }
    }
}

/// A bind mount into the task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mount {
    /// Path on the host.
    pub host_path: String,
    /// Path inside the task.
    pub task_path: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl Mount {
    /// A read-only mount.
    pub fn read_only(host_path: impl Into<String>, task_path: impl Into<String>) -> Self {
        Mount {
            host_path: host_path.into(),
            task_path: task_path.into(),
            read_only: true,
        }
    }

    /// A read-write mount.
    pub fn read_write(host_path: impl Into<String>, task_path: impl Into<String>) -> Self {
        Mount {
            read_only: false,
            ..Self::read_only(host_path, task_path)
        }
    }
}

/// A device node given to the task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceSpec {
    /// Device node on the host (`/dev/acme0`).
    pub host_path: String,
    /// Where it appears in the task.
    pub task_path: String,
    /// cgroup permissions: a combination of `r` (read), `w` (write) and
    /// `m` (mknod).
    pub permissions: String,
}

impl DeviceSpec {
    /// The node at the same path in the task, with `rwm` permissions.
    pub fn new(host_path: impl Into<String>) -> Self {
        let host_path = host_path.into();
        DeviceSpec {
            task_path: host_path.clone(),
            host_path,
            permissions: "rwm".into(),
        }
    }

    /// Sets the path inside the task.
    pub fn task_path(mut self, path: impl Into<String>) -> Self {
        self.task_path = path.into();
        self
    }

    /// Sets the cgroup permissions (`r`, `rw`, `rwm`, ...).
    pub fn permissions(mut self, permissions: impl Into<String>) -> Self {
        self.permissions = permissions.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_and_round_trip() {
        let r = ContainerReservation::new()
            .env("A", "1")
            .mount(Mount::read_write("/h", "/t"))
            .device(
                DeviceSpec::new("/dev/x")
                    .permissions("r")
                    .task_path("/dev/y"),
            );
        assert!(r.validate().is_ok());
        assert_eq!(ContainerReservation::from_proto(&r.to_proto()), r);
        assert!(ContainerReservation::new().is_empty());
        let bad = ContainerReservation::new().device(DeviceSpec::new("/dev/x").permissions("rx"));
        assert!(bad.validate().unwrap_err().contains("r, w and m"));
        let rel = ContainerReservation::new().mount(Mount::read_only("h", "/t"));
        assert!(rel.validate().is_err());
        let env = ContainerReservation::new().env("A=B", "x");
        assert!(env.validate().is_err());
    }
}

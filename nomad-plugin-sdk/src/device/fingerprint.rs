//! What a device plugin fingerprints: groups of identical devices, their
//! instances and their attributes.

use std::collections::{BTreeMap, HashSet};

use nomad_plugin_proto::nomad::device as pb;

use crate::attribute::Attribute;
#[cfg(test)]
use crate::attribute::Unit;

/// A set of identical devices: one vendor, one type, one model.
///
/// Jobs ask for devices by these names (`device "nvidia/gpu/Tesla T4"`,
/// `device "gpu"`), constrain on the group's [`attributes`](Self::attributes)
/// (`${device.attr.memory}`) and on `${device.model}` (the `name`).
///
/// ```
/// use nomad_plugin_sdk::device::{Attribute, DeviceGroup, DeviceInstance};
///
/// let group = DeviceGroup::new("acme", "fpga", "X100")
///     .device(DeviceInstance::new("card-0").pci_bus_id("0000:3b:00.0"))
///     .device(DeviceInstance::new("card-1").unhealthy("link down"))
///     .attribute("memory", Attribute::mib(16384))
///     .attribute("clock", Attribute::mhz(300))
///     .attribute("firmware", "2.1.0");
/// assert_eq!(group.devices.len(), 2);
/// assert!(group.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeviceGroup {
    /// Vendor (`nvidia`, `acme`): `${device.vendor}`. Must not be empty.
    pub vendor: String,
    /// Device type (`gpu`, `fpga`): `${device.type}`. Must not be empty.
    pub device_type: String,
    /// Model name: `${device.model}`. Must not be empty.
    pub name: String,
    /// The instances; allocations name them by [`DeviceInstance::id`].
    pub devices: Vec<DeviceInstance>,
    /// Attributes shared by every instance: `${device.attr.<key>}`.
    pub attributes: BTreeMap<String, Attribute>,
}

impl DeviceGroup {
    /// An empty group.
    pub fn new(
        vendor: impl Into<String>,
        device_type: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        DeviceGroup {
            vendor: vendor.into(),
            device_type: device_type.into(),
            name: name.into(),
            devices: Vec::new(),
            attributes: BTreeMap::new(),
        }
    }

    /// Adds an instance.
    pub fn device(mut self, device: DeviceInstance) -> Self {
        self.devices.push(device);
        self
    }

    /// Sets an attribute.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<Attribute>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// `vendor/type/name`, the fully qualified name jobs may use.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.vendor, self.device_type, self.name)
    }

    /// Checks what Nomad's client checks before it accepts a fingerprint
    /// (non-empty names and ids), plus unique instance ids, which the
    /// scheduler's device accounting relies on.
    pub fn validate(&self) -> Result<(), InvalidFingerprint> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("vendor", &self.vendor),
            ("device type", &self.device_type),
            ("device name", &self.name),
        ] {
            if value.is_empty() {
                problems.push(format!("device {field} must be specified"));
            }
        }
        let mut ids = HashSet::new();
        for (i, d) in self.devices.iter().enumerate() {
            if d.id.is_empty() {
                problems.push(format!("device {i}: device ID must be specified"));
            } else if !ids.insert(d.id.as_str()) {
                problems.push(format!("device {i}: duplicate device ID {:?}", d.id));
            }
        }
        for (key, value) in &self.attributes {
            if key.is_empty() {
                problems.push("an attribute has an empty name".to_string());
            }
            if let Attribute::Float { value, .. } = value {
                if !value.is_finite() {
                    problems.push(format!(
                        "device attribute {key:?} invalid: {value} is not a finite number"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidFingerprint {
                group: self.id(),
                problems,
            })
        }
    }

    /// Converts to the wire type.
    pub(crate) fn to_proto(&self) -> pb::DeviceGroup {
        pb::DeviceGroup {
            vendor: self.vendor.clone(),
            device_type: self.device_type.clone(),
            device_name: self.name.clone(),
            devices: self.devices.iter().map(DeviceInstance::to_proto).collect(),
            attributes: self
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.to_proto()))
                .collect(),
        }
    }

    /// Reads a group from the wire. Attributes Nomad would refuse (no
    /// value, unknown unit, unit on a string) are errors.
    #[cfg_attr(not(feature = "host"), allow(dead_code))] // the host's direction
    pub(crate) fn from_proto(group: &pb::DeviceGroup) -> Result<Self, InvalidFingerprint> {
        let mut problems = Vec::new();
        let mut attributes = BTreeMap::new();
        for (k, v) in &group.attributes {
            match Attribute::from_proto(v) {
                Ok(a) => {
                    attributes.insert(k.clone(), a);
                }
                Err(e) => problems.push(format!("device attribute {k:?} invalid: {e}")),
            }
        }
        let out = DeviceGroup {
            vendor: group.vendor.clone(),
            device_type: group.device_type.clone(),
            name: group.device_name.clone(),
            devices: group
                .devices
                .iter()
                .map(DeviceInstance::from_proto)
                .collect(),
            attributes,
        };
        if let Err(e) = out.validate() {
            problems.extend(e.problems);
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(InvalidFingerprint {
                group: out.id(),
                problems,
            })
        }
    }
}

/// Checks a whole snapshot: every group valid, and no two groups with the
/// same vendor, type and name.
pub fn validate_fingerprint(groups: &[DeviceGroup]) -> Result<(), InvalidFingerprint> {
    let mut seen = HashSet::new();
    for g in groups {
        g.validate()?;
        if !seen.insert((&g.vendor, &g.device_type, &g.name)) {
            return Err(InvalidFingerprint {
                group: g.id(),
                problems: vec!["two device groups have this vendor, type and name".into()],
            });
        }
    }
    Ok(())
}

/// A fingerprint the Nomad client would refuse (it would then stop using
/// the plugin).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid device group {group:?}: {}", problems.join("; "))]
#[non_exhaustive]
pub struct InvalidFingerprint {
    /// `vendor/type/name` of the group.
    pub group: String,
    /// Each problem, in Nomad's words where it has some.
    pub problems: Vec<String>,
}

/// One device of a [`DeviceGroup`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceInstance {
    /// Identifier, unique in its group and **stable across plugin
    /// restarts**: allocations keep referring to it (a serial number, a
    /// UUID, a bus address).
    pub id: String,
    /// Unhealthy devices are not given to new allocations.
    pub healthy: bool,
    /// Why the device is unhealthy (shown by `nomad node status`).
    pub health_description: String,
    /// PCI bus id (`0000:3b:00.0`), for NUMA-aware placement.
    pub pci_bus_id: Option<String>,
}

impl DeviceInstance {
    /// A healthy device.
    pub fn new(id: impl Into<String>) -> Self {
        DeviceInstance {
            id: id.into(),
            healthy: true,
            health_description: String::new(),
            pci_bus_id: None,
        }
    }

    /// Marks the device unhealthy, with the reason.
    pub fn unhealthy(mut self, reason: impl Into<String>) -> Self {
        self.healthy = false;
        self.health_description = reason.into();
        self
    }

    /// Sets the PCI bus id.
    pub fn pci_bus_id(mut self, id: impl Into<String>) -> Self {
        self.pci_bus_id = Some(id.into());
        self
    }

    fn to_proto(&self) -> pb::DetectedDevice {
        pb::DetectedDevice {
            id: self.id.clone(),
            healthy: self.healthy,
            health_description: self.health_description.clone(),
            hw_locality: self.pci_bus_id.as_ref().map(|p| pb::DeviceLocality {
                pci_bus_id: p.clone(),
            }),
        }
    }

    #[cfg_attr(not(feature = "host"), allow(dead_code))] // the host's direction
    fn from_proto(d: &pb::DetectedDevice) -> Self {
        DeviceInstance {
            id: d.id.clone(),
            healthy: d.healthy,
            health_description: d.health_description.clone(),
            pci_bus_id: d
                .hw_locality
                .as_ref()
                .map(|l| l.pci_bus_id.clone())
                .filter(|p| !p.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_reports_what_nomad_refuses() {
        let bad = DeviceGroup::new("", "gpu", "x")
            .device(DeviceInstance::new(""))
            .device(DeviceInstance::new("a"))
            .device(DeviceInstance::new("a"));
        let e = bad.validate().unwrap_err();
        assert_eq!(e.problems.len(), 3, "{e}");
        assert!(e.to_string().contains("device vendor must be specified"));
        assert!(e.to_string().contains("duplicate device ID \"a\""));
        let dup = vec![
            DeviceGroup::new("v", "t", "n"),
            DeviceGroup::new("v", "t", "n"),
        ];
        assert!(validate_fingerprint(&dup).is_err());
        let nan = DeviceGroup::new("v", "t", "n").attribute("x", f64::NAN);
        assert!(nan.validate().is_err());
    }

    #[test]
    fn proto_round_trip() {
        let g = DeviceGroup::new("nvidia", "gpu", "T4")
            .device(DeviceInstance::new("GPU-1").pci_bus_id("0000:01:00.0"))
            .device(DeviceInstance::new("GPU-2").unhealthy("xid 79"))
            .attribute("memory", Attribute::mib(15360))
            .attribute("ratio", Attribute::float_quantity(1.5, Unit::GHz))
            .attribute("driver_version", "550.1")
            .attribute("persistence", false)
            .attribute("count", 3i64);
        let p = g.to_proto();
        assert_eq!(p.attributes["memory"].unit, "MiB");
        assert_eq!(
            p.devices[0].hw_locality.as_ref().unwrap().pci_bus_id,
            "0000:01:00.0"
        );
        assert!(p.devices[1].hw_locality.is_none());
        assert_eq!(DeviceGroup::from_proto(&p).unwrap(), g);
    }
}

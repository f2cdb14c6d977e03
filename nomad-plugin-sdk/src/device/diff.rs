//! Comparing two fingerprints, so that only changes are sent to Nomad.

use std::collections::BTreeMap;

use super::{DeviceGroup, DeviceInstance};

/// What changed between two fingerprints, by `vendor/type/name` group and
/// instance id. The order of groups and instances does not matter.
///
/// ```
/// use nomad_plugin_sdk::device::{DeviceGroup, DeviceInstance, FingerprintDiff};
///
/// let before = vec![DeviceGroup::new("acme", "fpga", "X100")
///     .device(DeviceInstance::new("a"))
///     .device(DeviceInstance::new("b"))];
/// let after = vec![DeviceGroup::new("acme", "fpga", "X100")
///     .device(DeviceInstance::new("b").unhealthy("overheating"))
///     .device(DeviceInstance::new("c"))];
/// let diff = FingerprintDiff::between(&before, &after);
/// assert_eq!(diff.added, vec![("acme/fpga/X100".to_string(), "c".to_string())]);
/// assert_eq!(diff.removed, vec![("acme/fpga/X100".to_string(), "a".to_string())]);
/// assert_eq!(diff.changed, vec![("acme/fpga/X100".to_string(), "b".to_string())]);
/// assert!(FingerprintDiff::between(&after, &after).is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FingerprintDiff {
    /// Groups that appeared.
    pub groups_added: Vec<String>,
    /// Groups that disappeared.
    pub groups_removed: Vec<String>,
    /// Groups present in both whose attributes differ.
    pub attributes_changed: Vec<String>,
    /// Instances that appeared: `(group, id)`.
    pub added: Vec<(String, String)>,
    /// Instances that disappeared.
    pub removed: Vec<(String, String)>,
    /// Instances whose health, health description or locality changed.
    pub changed: Vec<(String, String)>,
}

impl FingerprintDiff {
    /// Compares `old` with `new`.
    pub fn between(old: &[DeviceGroup], new: &[DeviceGroup]) -> Self {
        let index = |groups: &[DeviceGroup]| -> BTreeMap<String, usize> {
            groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.id(), i))
                .collect()
        };
        let (old_ix, new_ix) = (index(old), index(new));
        let mut d = FingerprintDiff::default();
        for (name, &i) in &old_ix {
            if !new_ix.contains_key(name) {
                d.groups_removed.push(name.clone());
                for dev in &old[i].devices {
                    d.removed.push((name.clone(), dev.id.clone()));
                }
            }
        }
        for (name, &j) in &new_ix {
            let Some(&i) = old_ix.get(name) else {
                d.groups_added.push(name.clone());
                for dev in &new[j].devices {
                    d.added.push((name.clone(), dev.id.clone()));
                }
                continue;
            };
            let (a, b) = (&old[i], &new[j]);
            if a.attributes != b.attributes {
                d.attributes_changed.push(name.clone());
            }
            let devs = |g: &DeviceGroup| -> BTreeMap<String, DeviceInstance> {
                g.devices
                    .iter()
                    .map(|x| (x.id.clone(), x.clone()))
                    .collect()
            };
            let (da, db) = (devs(a), devs(b));
            for id in da.keys().filter(|id| !db.contains_key(*id)) {
                d.removed.push((name.clone(), id.clone()));
            }
            for (id, dev) in &db {
                match da.get(id) {
                    None => d.added.push((name.clone(), id.clone())),
                    Some(prev) if prev != dev => d.changed.push((name.clone(), id.clone())),
                    Some(_) => {}
                }
            }
        }
        d
    }

    /// Nothing changed: Nomad need not be told.
    pub fn is_empty(&self) -> bool {
        self.groups_added.is_empty()
            && self.groups_removed.is_empty()
            && self.attributes_changed.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
    }
}

impl std::fmt::Display for FingerprintDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("no change");
        }
        let mut parts = Vec::new();
        let pairs = |v: &[(String, String)]| {
            v.iter()
                .map(|(g, id)| format!("{g}[{id}]"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.groups_added.is_empty() {
            parts.push(format!("groups added: {}", self.groups_added.join(", ")));
        }
        if !self.groups_removed.is_empty() {
            parts.push(format!(
                "groups removed: {}",
                self.groups_removed.join(", ")
            ));
        }
        if !self.attributes_changed.is_empty() {
            parts.push(format!(
                "attributes changed: {}",
                self.attributes_changed.join(", ")
            ));
        }
        if !self.added.is_empty() {
            parts.push(format!("devices added: {}", pairs(&self.added)));
        }
        if !self.removed.is_empty() {
            parts.push(format!("devices removed: {}", pairs(&self.removed)));
        }
        if !self.changed.is_empty() {
            parts.push(format!("devices changed: {}", pairs(&self.changed)));
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Attribute;

    #[test]
    fn order_does_not_matter_but_attributes_do() {
        let g1 = DeviceGroup::new("v", "t", "a").device(DeviceInstance::new("1"));
        let g2 = DeviceGroup::new("v", "t", "b")
            .device(DeviceInstance::new("2"))
            .device(DeviceInstance::new("3"));
        let g2r = DeviceGroup::new("v", "t", "b")
            .device(DeviceInstance::new("3"))
            .device(DeviceInstance::new("2"));
        let a = vec![g1.clone(), g2.clone()];
        let b = vec![g2r, g1.clone()];
        assert!(FingerprintDiff::between(&a, &b).is_empty());

        let c = vec![
            g1.clone().attribute("memory", Attribute::mib(1)),
            g2.clone(),
        ];
        let d = FingerprintDiff::between(&a, &c);
        assert_eq!(d.attributes_changed, vec!["v/t/a".to_string()]);
        assert!(!d.is_empty());
        assert_eq!(d.to_string(), "attributes changed: v/t/a");

        let gone = FingerprintDiff::between(&a, &[g1]);
        assert_eq!(gone.groups_removed, vec!["v/t/b".to_string()]);
        assert_eq!(gone.removed.len(), 2);
        let back = FingerprintDiff::between(&[], &a);
        assert_eq!(back.groups_added.len(), 2);
        assert_eq!(back.added.len(), 3);
    }

    #[test]
    fn locality_changes_count() {
        let a = vec![DeviceGroup::new("v", "t", "n").device(DeviceInstance::new("1"))];
        let b = vec![DeviceGroup::new("v", "t", "n")
            .device(DeviceInstance::new("1").pci_bus_id("0000:00:01.0"))];
        assert_eq!(FingerprintDiff::between(&a, &b).changed.len(), 1);
    }
}

//! Device statistics: typed values with free-form units, per instance.

use std::collections::BTreeMap;
use std::time::SystemTime;

use nomad_plugin_proto::nomad::device as pb;
use nomad_plugin_proto::nomad::structs as spb;

use super::DeviceGroup;

/// Statistics of every instance of one [`DeviceGroup`].
///
/// ```
/// use nomad_plugin_sdk::device::{DeviceGroup, DeviceGroupStats, DeviceStats, StatValue};
///
/// let group = DeviceGroup::new("acme", "fpga", "X100");
/// let stats = DeviceGroupStats::of(&group).instance(
///     "card-0",
///     DeviceStats::new(StatValue::ratio(512, 16384).unit("MiB").desc("used / total memory"))
///         .stat("Temperature", StatValue::int(61).unit("C"))
///         .stat("Power usage", StatValue::ratio(40, 75).unit("W")),
/// );
/// assert_eq!(stats.instances["card-0"].stats.attributes.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeviceGroupStats {
    /// The group's vendor.
    pub vendor: String,
    /// The group's device type.
    pub device_type: String,
    /// The group's name.
    pub name: String,
    /// Statistics by instance id.
    pub instances: BTreeMap<String, DeviceStats>,
}

impl DeviceGroupStats {
    /// Empty statistics for the group `vendor`/`device_type`/`name`.
    pub fn new(
        vendor: impl Into<String>,
        device_type: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        DeviceGroupStats {
            vendor: vendor.into(),
            device_type: device_type.into(),
            name: name.into(),
            instances: BTreeMap::new(),
        }
    }

    /// Empty statistics for `group`'s vendor, type and name.
    pub fn of(group: &DeviceGroup) -> Self {
        Self::new(&group.vendor, &group.device_type, &group.name)
    }

    /// Adds one instance's statistics.
    pub fn instance(mut self, id: impl Into<String>, stats: DeviceStats) -> Self {
        self.instances.insert(id.into(), stats);
        self
    }

    /// Converts to the wire type; a missing timestamp becomes `now`
    /// (Nomad drops statistics without one).
    pub(crate) fn to_proto(&self, now: SystemTime) -> pb::DeviceGroupStats {
        pb::DeviceGroupStats {
            vendor: self.vendor.clone(),
            r#type: self.device_type.clone(),
            name: self.name.clone(),
            instance_stats: self
                .instances
                .iter()
                .map(|(id, s)| (id.clone(), s.to_proto(now)))
                .collect(),
        }
    }

    /// Reads group statistics from the wire.
    #[cfg_attr(not(feature = "host"), allow(dead_code))] // the host's direction
    pub(crate) fn from_proto(p: &pb::DeviceGroupStats) -> Self {
        DeviceGroupStats {
            vendor: p.vendor.clone(),
            device_type: p.r#type.clone(),
            name: p.name.clone(),
            instances: p
                .instance_stats
                .iter()
                .map(|(id, s)| (id.clone(), DeviceStats::from_proto(s)))
                .collect(),
        }
    }
}

/// One instance's statistics: a summary value (what `nomad node status`
/// shows first) and any number of named values.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeviceStats {
    /// The headline value, such as used / total memory.
    pub summary: Option<StatValue>,
    /// Every value, by name, possibly nested.
    pub stats: StatObject,
    /// When the values were read; the SDK fills in the time of collection
    /// when this is `None`.
    pub timestamp: Option<SystemTime>,
}

impl DeviceStats {
    /// Statistics with a summary value.
    pub fn new(summary: StatValue) -> Self {
        DeviceStats {
            summary: Some(summary),
            stats: StatObject::default(),
            timestamp: None,
        }
    }

    /// Adds a named value.
    pub fn stat(mut self, name: impl Into<String>, value: StatValue) -> Self {
        self.stats.attributes.insert(name.into(), value);
        self
    }

    /// Adds a nested group of values.
    pub fn nested(mut self, name: impl Into<String>, object: StatObject) -> Self {
        self.stats.nested.insert(name.into(), object);
        self
    }

    /// Sets the time the values were read.
    pub fn at(mut self, time: SystemTime) -> Self {
        self.timestamp = Some(time);
        self
    }

    fn to_proto(&self, now: SystemTime) -> pb::DeviceStats {
        pb::DeviceStats {
            summary: self.summary.as_ref().map(StatValue::to_proto),
            stats: Some(self.stats.to_proto()),
            timestamp: Some(prost_types::Timestamp::from(self.timestamp.unwrap_or(now))),
        }
    }

    #[cfg_attr(not(feature = "host"), allow(dead_code))] // the host's direction
    fn from_proto(p: &pb::DeviceStats) -> Self {
        DeviceStats {
            summary: p.summary.as_ref().map(StatValue::from_proto),
            stats: p
                .stats
                .as_ref()
                .map(StatObject::from_proto)
                .unwrap_or_default(),
            timestamp: p.timestamp.and_then(|t| SystemTime::try_from(t).ok()),
        }
    }
}

/// A tree of named statistics.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct StatObject {
    /// Sub-trees by name.
    pub nested: BTreeMap<String, StatObject>,
    /// Values by name.
    pub attributes: BTreeMap<String, StatValue>,
}

impl StatObject {
    /// Adds a value.
    pub fn stat(mut self, name: impl Into<String>, value: StatValue) -> Self {
        self.attributes.insert(name.into(), value);
        self
    }

    /// Adds a sub-tree.
    pub fn nested(mut self, name: impl Into<String>, object: StatObject) -> Self {
        self.nested.insert(name.into(), object);
        self
    }

    fn to_proto(&self) -> spb::StatObject {
        spb::StatObject {
            nested: self
                .nested
                .iter()
                .map(|(k, v)| (k.clone(), v.to_proto()))
                .collect(),
            attributes: self
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.to_proto()))
                .collect(),
        }
    }

    #[cfg_attr(not(feature = "host"), allow(dead_code))] // the host's direction
    fn from_proto(p: &spb::StatObject) -> Self {
        StatObject {
            nested: p
                .nested
                .iter()
                .map(|(k, v)| (k.clone(), StatObject::from_proto(v)))
                .collect(),
            attributes: p
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), StatValue::from_proto(v)))
                .collect(),
        }
    }
}

/// What a statistic holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Stat {
    /// An integer.
    Int(i64),
    /// An integer out of a total (`used / total`).
    IntRatio(i64, i64),
    /// A float.
    Float(f64),
    /// A float out of a total.
    FloatRatio(f64, f64),
    /// Text, such as `N/A` when the hardware cannot tell.
    String(String),
    /// A flag.
    Bool(bool),
}

/// One statistic: a value, its unit and a description. Units of statistics
/// are free text for people (`%`, `C`, `W`, `MiB`); Nomad does not check
/// them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StatValue {
    /// The value.
    pub value: Stat,
    /// Unit shown next to the value.
    pub unit: String,
    /// What the value means.
    pub desc: String,
}

impl StatValue {
    fn of(value: Stat) -> Self {
        StatValue {
            value,
            unit: String::new(),
            desc: String::new(),
        }
    }

    /// An integer.
    pub fn int(v: i64) -> Self {
        Self::of(Stat::Int(v))
    }

    /// An integer out of a total.
    pub fn ratio(value: i64, total: i64) -> Self {
        Self::of(Stat::IntRatio(value, total))
    }

    /// A float.
    pub fn float(v: f64) -> Self {
        Self::of(Stat::Float(v))
    }

    /// A float out of a total.
    pub fn float_ratio(value: f64, total: f64) -> Self {
        Self::of(Stat::FloatRatio(value, total))
    }

    /// Text.
    pub fn text(s: impl Into<String>) -> Self {
        Self::of(Stat::String(s.into()))
    }

    /// A flag.
    pub fn flag(b: bool) -> Self {
        Self::of(Stat::Bool(b))
    }

    /// Sets the unit (any text, or a [`Unit`](super::Unit)).
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = unit.into();
        self
    }

    /// Sets the description.
    pub fn desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = desc.into();
        self
    }

    /// Converts to the wire type.
    pub(crate) fn to_proto(&self) -> spb::StatValue {
        let mut p = spb::StatValue {
            unit: self.unit.clone(),
            desc: self.desc.clone(),
            ..Default::default()
        };
        match &self.value {
            Stat::Int(v) => p.int_numerator_val = Some(*v),
            Stat::IntRatio(v, t) => {
                p.int_numerator_val = Some(*v);
                p.int_denominator_val = Some(*t);
            }
            Stat::Float(v) => p.float_numerator_val = Some(*v),
            Stat::FloatRatio(v, t) => {
                p.float_numerator_val = Some(*v);
                p.float_denominator_val = Some(*t);
            }
            Stat::String(s) => p.string_val = Some(s.clone()),
            Stat::Bool(b) => p.bool_val = Some(*b),
        }
        p
    }

    /// Reads a value from the wire (the first field set wins, in the order
    /// Nomad's client reads them; nothing set reads as an empty string).
    #[cfg_attr(not(feature = "host"), allow(dead_code))] // the host's direction
    pub(crate) fn from_proto(p: &spb::StatValue) -> Self {
        let value = if let Some(v) = p.float_numerator_val {
            match p.float_denominator_val {
                Some(t) => Stat::FloatRatio(v, t),
                None => Stat::Float(v),
            }
        } else if let Some(v) = p.int_numerator_val {
            match p.int_denominator_val {
                Some(t) => Stat::IntRatio(v, t),
                None => Stat::Int(v),
            }
        } else if let Some(s) = &p.string_val {
            Stat::String(s.clone())
        } else if let Some(b) = p.bool_val {
            Stat::Bool(b)
        } else {
            Stat::String(String::new())
        };
        StatValue {
            value,
            unit: p.unit.clone(),
            desc: p.desc.clone(),
        }
    }
}

impl std::fmt::Display for StatValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Stat::Int(v) => write!(f, "{v}")?,
            Stat::IntRatio(v, t) => write!(f, "{v} / {t}")?,
            Stat::Float(v) => write!(f, "{v}")?,
            Stat::FloatRatio(v, t) => write!(f, "{v} / {t}")?,
            Stat::String(s) => f.write_str(s)?,
            Stat::Bool(b) => write!(f, "{b}")?,
        }
        if !self.unit.is_empty() {
            write!(f, " {}", self.unit)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Unit;

    #[test]
    fn values_round_trip() {
        for v in [
            StatValue::int(3).unit("#"),
            StatValue::ratio(1, 4).unit(Unit::MiB).desc("used / total"),
            StatValue::float(0.5),
            StatValue::float_ratio(1.5, 3.0),
            StatValue::text("N/A"),
            StatValue::flag(true),
        ] {
            assert_eq!(StatValue::from_proto(&v.to_proto()), v);
        }
        assert_eq!(StatValue::ratio(1, 4).unit("MiB").to_string(), "1 / 4 MiB");
    }

    #[test]
    fn missing_timestamps_are_filled() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let g = DeviceGroupStats::of(&DeviceGroup::new("v", "t", "n"))
            .instance("a", DeviceStats::new(StatValue::int(1)))
            .instance(
                "b",
                DeviceStats::new(StatValue::int(2)).at(SystemTime::UNIX_EPOCH),
            );
        let p = g.to_proto(now);
        assert_eq!(
            p.instance_stats["a"].timestamp.unwrap().seconds,
            1_700_000_000
        );
        assert_eq!(p.instance_stats["b"].timestamp.unwrap().seconds, 0);
        assert!(p.instance_stats["a"].stats.is_some());
        let back = DeviceGroupStats::from_proto(&p);
        assert_eq!(back.instances["a"].timestamp, Some(now));
        assert_eq!(back.device_type, "t");
    }
}

//! Attributes: the typed values drivers and device plugins report to Nomad
//! (Nomad's `plugins/shared/structs` `Attribute` and its units).

use nomad_plugin_proto::nomad::structs as spb;

mod units;

pub use units::{Unit, UnitBase, UnknownUnit};

/// A node or device attribute (Nomad's `structs.Attribute`): a number with
/// an optional [`Unit`], a string or a boolean. Drivers report them in
/// their fingerprint (`driver.<name>.<key>`), device plugins on each device
/// group (`${device.attr.<key>}`).
///
/// ```
/// use nomad_plugin_sdk::attribute::{Attribute, Unit};
///
/// assert_eq!(Attribute::mib(8192), Attribute::Int { value: 8192, unit: Some(Unit::MiB) });
/// assert_eq!(Attribute::size(500 * 1024 * 1024 * 1024), Attribute::Int { value: 500, unit: Some(Unit::GiB) });
/// assert_eq!(Attribute::from("535.104"), Attribute::String("535.104".into()));
/// assert_eq!(Attribute::from(true).to_string(), "true");
/// assert_eq!(Attribute::watts(70).to_string(), "70 W");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    /// An integer, maybe with a unit.
    Int {
        /// The value.
        value: i64,
        /// The unit, if any.
        unit: Option<Unit>,
    },
    /// A float, maybe with a unit.
    Float {
        /// The value.
        value: f64,
        /// The unit, if any.
        unit: Option<Unit>,
    },
    /// A string.
    String(String),
    /// A boolean.
    Bool(bool),
}

impl Attribute {
    /// An integer in `unit`.
    pub fn quantity(value: i64, unit: Unit) -> Self {
        Attribute::Int {
            value,
            unit: Some(unit),
        }
    }

    /// A float in `unit`.
    pub fn float_quantity(value: f64, unit: Unit) -> Self {
        Attribute::Float {
            value,
            unit: Some(unit),
        }
    }

    /// Mebibytes (`memory`, `bar1` in Nomad's nvidia plugin).
    pub fn mib(value: i64) -> Self {
        Self::quantity(value, Unit::MiB)
    }

    /// Megahertz (`cores_clock`, `memory_clock`).
    pub fn mhz(value: i64) -> Self {
        Self::quantity(value, Unit::MHz)
    }

    /// Watts (`power`).
    pub fn watts(value: i64) -> Self {
        Self::quantity(value, Unit::W)
    }

    /// Megabytes per second (`pci_bandwidth`).
    pub fn mb_per_s(value: i64) -> Self {
        Self::quantity(value, Unit::MBPerS)
    }

    /// A byte count in the largest binary unit that holds it exactly
    /// (`KiB` … `EiB`; plain bytes have no Nomad unit, so a count that is
    /// not a multiple of 1024 stays unit-less).
    pub fn size(bytes: u64) -> Self {
        let units = [
            Unit::EiB,
            Unit::PiB,
            Unit::TiB,
            Unit::GiB,
            Unit::MiB,
            Unit::KiB,
        ];
        for unit in units {
            // factor() is an exact power of two for the binary units.
            let f = unit.factor() as u64;
            if bytes >= f && bytes.is_multiple_of(f) {
                if let Ok(v) = i64::try_from(bytes / f) {
                    return Self::quantity(v, unit);
                }
            }
        }
        Attribute::Int {
            value: i64::try_from(bytes).unwrap_or(i64::MAX),
            unit: None,
        }
    }

    /// The unit, for numbers that have one.
    pub fn unit(&self) -> Option<Unit> {
        match self {
            Attribute::Int { unit, .. } | Attribute::Float { unit, .. } => *unit,
            _ => None,
        }
    }

    /// Converts to the wire type.
    pub(crate) fn to_proto(&self) -> spb::Attribute {
        use spb::attribute::Value;
        let (value, unit) = match self {
            Attribute::Int { value, unit } => (Value::IntVal(*value), *unit),
            Attribute::Float { value, unit } => (Value::FloatVal(*value), *unit),
            Attribute::String(s) => (Value::StringVal(s.clone()), None),
            Attribute::Bool(b) => (Value::BoolVal(*b), None),
        };
        spb::Attribute {
            unit: unit.map(String::from).unwrap_or_default(),
            value: Some(value),
        }
    }

    /// Reads an attribute from the wire with Nomad's rules: a value must be
    /// set, and a unit must be a known one on a number.
    // The host's direction, used by the device kind's conversions.
    #[cfg_attr(not(all(feature = "host", feature = "device")), allow(dead_code))]
    pub(crate) fn from_proto(a: &spb::Attribute) -> Result<Self, String> {
        use spb::attribute::Value;
        let unit = if a.unit.is_empty() {
            None
        } else {
            Some(a.unit.parse::<Unit>().map_err(|e| e.to_string())?)
        };
        match (&a.value, unit) {
            (None, _) => Err("no attribute value set".into()),
            (Some(Value::IntVal(v)), unit) => Ok(Attribute::Int { value: *v, unit }),
            (Some(Value::FloatVal(v)), unit) => Ok(Attribute::Float { value: *v, unit }),
            (Some(Value::StringVal(_) | Value::BoolVal(_)), Some(_)) => {
                Err("unit can not be specified on a boolean or string attribute".into())
            }
            (Some(Value::StringVal(s)), None) => Ok(Attribute::String(s.clone())),
            (Some(Value::BoolVal(b)), None) => Ok(Attribute::Bool(*b)),
        }
    }
}

impl std::fmt::Display for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attribute::Int { value, unit: None } => write!(f, "{value}"),
            Attribute::Int {
                value,
                unit: Some(u),
            } => write!(f, "{value} {u}"),
            Attribute::Float { value, unit: None } => write!(f, "{value}"),
            Attribute::Float {
                value,
                unit: Some(u),
            } => write!(f, "{value} {u}"),
            Attribute::String(s) => f.write_str(s),
            Attribute::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl From<i64> for Attribute {
    fn from(value: i64) -> Self {
        Attribute::Int { value, unit: None }
    }
}

impl From<f64> for Attribute {
    fn from(value: f64) -> Self {
        Attribute::Float { value, unit: None }
    }
}

impl From<bool> for Attribute {
    fn from(b: bool) -> Self {
        Attribute::Bool(b)
    }
}

impl From<&str> for Attribute {
    fn from(s: &str) -> Self {
        Attribute::String(s.to_string())
    }
}

impl From<String> for Attribute {
    fn from(s: String) -> Self {
        Attribute::String(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_attributes_are_checked() {
        use spb::attribute::Value;
        let bad_unit = spb::Attribute {
            unit: "Mib".into(),
            value: Some(Value::IntVal(1)),
        };
        assert!(Attribute::from_proto(&bad_unit)
            .unwrap_err()
            .contains("unrecognized unit \"Mib\""));
        let unit_on_string = spb::Attribute {
            unit: "MiB".into(),
            value: Some(Value::StringVal("x".into())),
        };
        assert!(Attribute::from_proto(&unit_on_string).is_err());
        let empty = spb::Attribute::default();
        assert_eq!(
            Attribute::from_proto(&empty).unwrap_err(),
            "no attribute value set"
        );
    }

    #[test]
    fn sizes_pick_exact_units() {
        assert_eq!(Attribute::size(4096), Attribute::quantity(4, Unit::KiB));
        assert_eq!(Attribute::size(3 * 1024 * 1024), Attribute::mib(3));
        assert_eq!(Attribute::size(1000), Attribute::from(1000i64));
        assert_eq!(Attribute::size(0), Attribute::from(0i64));
        assert_eq!(Attribute::size(1 << 62), Attribute::quantity(4, Unit::EiB));
    }
}

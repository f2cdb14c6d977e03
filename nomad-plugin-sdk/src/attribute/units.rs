//! The unit names Nomad's constraint language understands on device
//! attributes (`plugins/shared/structs/units.go`).

use std::fmt;
use std::str::FromStr;

/// A unit Nomad accepts on an integer or float device attribute.
///
/// Nomad refuses a whole fingerprint (and then kills the plugin) when an
/// attribute carries any other unit string, so the SDK only lets plugins
/// name these. Variants are spelled exactly as Nomad spells them, which is
/// why some start with a lower-case letter.
///
/// Values with units of the same [`UnitBase`] compare after conversion in
/// job constraints: `${device.attr.memory} >= 2 GiB` matches an attribute of
/// `4096 MiB`.
///
/// ```
/// use nomad_plugin_sdk::attribute::{Unit, UnitBase};
///
/// assert_eq!(Unit::MiB.as_str(), "MiB");
/// assert_eq!("MB/s".parse::<Unit>(), Ok(Unit::MBPerS));
/// assert_eq!(Unit::GiB.base(), UnitBase::Byte);
/// assert!("mib".parse::<Unit>().is_err());
/// ```
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Kibibyte, 1024 bytes.
    KiB,
    /// Mebibyte, 1024² bytes.
    MiB,
    /// Gibibyte, 1024³ bytes.
    GiB,
    /// Tebibyte, 1024⁴ bytes.
    TiB,
    /// Pebibyte, 1024⁵ bytes.
    PiB,
    /// Exbibyte, 1024⁶ bytes.
    EiB,
    /// Kilobyte, 1000 bytes (`kB`).
    kB,
    /// Kilobyte, 1000 bytes (Nomad's alternative spelling `KB`).
    KB,
    /// Megabyte, 1000² bytes.
    MB,
    /// Gigabyte, 1000³ bytes.
    GB,
    /// Terabyte, 1000⁴ bytes.
    TB,
    /// Petabyte, 1000⁵ bytes.
    PB,
    /// Exabyte, 1000⁶ bytes.
    EB,
    /// `KiB/s`.
    KiBPerS,
    /// `MiB/s`.
    MiBPerS,
    /// `GiB/s`.
    GiBPerS,
    /// `TiB/s`.
    TiBPerS,
    /// `PiB/s`.
    PiBPerS,
    /// `EiB/s`.
    EiBPerS,
    /// `kB/s`.
    kBPerS,
    /// `KB/s`.
    KBPerS,
    /// `MB/s`.
    MBPerS,
    /// `GB/s`.
    GBPerS,
    /// `TB/s`.
    TBPerS,
    /// `PB/s`.
    PBPerS,
    /// `EB/s`.
    EBPerS,
    /// Megahertz.
    MHz,
    /// Gigahertz.
    GHz,
    /// Milliwatt.
    mW,
    /// Watt.
    W,
    /// Kilowatt.
    kW,
    /// Megawatt.
    MW,
    /// Gigawatt.
    GW,
}

/// What a [`Unit`] measures; units with the same base compare numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitBase {
    /// Bytes (`KiB`, `MB`, ...).
    Byte,
    /// Bytes per second (`MiB/s`, `MB/s`, ...).
    ByteRate,
    /// Hertz (`MHz`, `GHz`).
    Hertz,
    /// Watts (`mW`, `W`, ...).
    Watt,
}

impl Unit {
    /// Every unit Nomad knows, in its table's order.
    pub const ALL: [Unit; 33] = [
        Unit::KiB,
        Unit::MiB,
        Unit::GiB,
        Unit::TiB,
        Unit::PiB,
        Unit::EiB,
        Unit::kB,
        Unit::KB,
        Unit::MB,
        Unit::GB,
        Unit::TB,
        Unit::PB,
        Unit::EB,
        Unit::KiBPerS,
        Unit::MiBPerS,
        Unit::GiBPerS,
        Unit::TiBPerS,
        Unit::PiBPerS,
        Unit::EiBPerS,
        Unit::kBPerS,
        Unit::KBPerS,
        Unit::MBPerS,
        Unit::GBPerS,
        Unit::TBPerS,
        Unit::PBPerS,
        Unit::EBPerS,
        Unit::MHz,
        Unit::GHz,
        Unit::mW,
        Unit::W,
        Unit::kW,
        Unit::MW,
        Unit::GW,
    ];

    /// The name as it goes on the wire and in job files.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::KiB => "KiB",
            Unit::MiB => "MiB",
            Unit::GiB => "GiB",
            Unit::TiB => "TiB",
            Unit::PiB => "PiB",
            Unit::EiB => "EiB",
            Unit::kB => "kB",
            Unit::KB => "KB",
            Unit::MB => "MB",
            Unit::GB => "GB",
            Unit::TB => "TB",
            Unit::PB => "PB",
            Unit::EB => "EB",
            Unit::KiBPerS => "KiB/s",
            Unit::MiBPerS => "MiB/s",
            Unit::GiBPerS => "GiB/s",
            Unit::TiBPerS => "TiB/s",
            Unit::PiBPerS => "PiB/s",
            Unit::EiBPerS => "EiB/s",
            Unit::kBPerS => "kB/s",
            Unit::KBPerS => "KB/s",
            Unit::MBPerS => "MB/s",
            Unit::GBPerS => "GB/s",
            Unit::TBPerS => "TB/s",
            Unit::PBPerS => "PB/s",
            Unit::EBPerS => "EB/s",
            Unit::MHz => "MHz",
            Unit::GHz => "GHz",
            Unit::mW => "mW",
            Unit::W => "W",
            Unit::kW => "kW",
            Unit::MW => "MW",
            Unit::GW => "GW",
        }
    }

    /// What the unit measures.
    pub fn base(self) -> UnitBase {
        use Unit::*;
        match self {
            KiB | MiB | GiB | TiB | PiB | EiB | kB | KB | MB | GB | TB | PB | EB => UnitBase::Byte,
            KiBPerS | MiBPerS | GiBPerS | TiBPerS | PiBPerS | EiBPerS | kBPerS | KBPerS
            | MBPerS | GBPerS | TBPerS | PBPerS | EBPerS => UnitBase::ByteRate,
            MHz | GHz => UnitBase::Hertz,
            mW | W | kW | MW | GW => UnitBase::Watt,
        }
    }

    /// How many base units (bytes, bytes per second, hertz, watts) one of
    /// this unit is.
    pub fn factor(self) -> f64 {
        use Unit::*;
        let k = 1024f64;
        match self {
            KiB | KiBPerS => k,
            MiB | MiBPerS => k.powi(2),
            GiB | GiBPerS => k.powi(3),
            TiB | TiBPerS => k.powi(4),
            PiB | PiBPerS => k.powi(5),
            EiB | EiBPerS => k.powi(6),
            kB | KB | kBPerS | KBPerS => 1e3,
            MB | MBPerS | MHz => 1e6,
            GB | GBPerS | GHz => 1e9,
            TB | TBPerS => 1e12,
            PB | PBPerS => 1e15,
            EB | EBPerS => 1e18,
            mW => 1e-3,
            W => 1.0,
            kW => 1e3,
            MW => 1e6,
            GW => 1e9,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A unit string Nomad does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized unit {0:?} (Nomad knows {known})", known = known_list())]
pub struct UnknownUnit(pub String);

fn known_list() -> String {
    Unit::ALL
        .iter()
        .map(|u| u.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

impl FromStr for Unit {
    type Err = UnknownUnit;

    /// Exact, case-sensitive match, as Nomad's unit index.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Unit::ALL
            .iter()
            .copied()
            .find(|u| u.as_str() == s)
            .ok_or_else(|| UnknownUnit(s.to_string()))
    }
}

impl From<Unit> for String {
    fn from(u: Unit) -> String {
        u.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for u in Unit::ALL {
            assert!(seen.insert(u.as_str()), "duplicate {u}");
            assert_eq!(u.as_str().parse::<Unit>(), Ok(u));
        }
        assert_eq!(seen.len(), 33);
    }

    #[test]
    fn factors_follow_nomad() {
        assert_eq!(Unit::MiB.factor(), 1048576.0);
        assert_eq!(Unit::KB.factor(), Unit::kB.factor());
        assert_eq!(Unit::mW.factor() * 1000.0, Unit::W.factor());
        assert_eq!(Unit::GHz.factor() / Unit::MHz.factor(), 1000.0);
        assert_eq!(Unit::MBPerS.base(), UnitBase::ByteRate);
    }

    #[test]
    fn unknown_units_name_the_known_ones() {
        let e = "C".parse::<Unit>().unwrap_err();
        assert!(e.to_string().starts_with("unrecognized unit \"C\""), "{e}");
        assert!(e.to_string().contains("MiB"));
    }
}

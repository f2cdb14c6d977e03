//! The host's side of the protocol (feature `host`): what code that plays
//! Nomad, the Nomad Autoscaler or a go-plugin client needs and a plugin
//! never does. The testkit is built on it; a plugin should not enable it.
//!
//! Plugins see only Nomad's concepts; the protobuf conversions of each kind
//! are private to it. A host has to cross that boundary from the other
//! side, so what it needs is gathered here, in one deliberate place, rather
//! than made public piecemeal:
//!
//! | module | what a host does with it |
//! |---|---|
//! | [`schema`] | reads the `hclspec.Spec` a plugin answers `ConfigSchema` / `TaskConfigSchema` with |
//! | [`cty`], [`msgpack`] | builds the go-cty value of a `config` block and encodes it as Nomad does |
//! | [`device`] | reads fingerprints, statistics and reservations from a device plugin's answers |
//! | [`autoscaler`] | converts the autoscaler's request and answer messages |
//! | [`mtls`] (feature `automtls`) | the client half of go-plugin's AutoMTLS |
//! | [`CORE_PROTOCOL_VERSION`], [`PLUGIN_API_VERSION`] | the version numbers a host checks in the handshake and sends in `SetConfig` |
//!
//! The typed values both sides share ([`DeviceGroup`](crate::device::DeviceGroup),
//! [`TimeRange`](crate::autoscaler::TimeRange), ...) stay in their kind's
//! module.

pub use crate::base::PLUGIN_API_VERSION;
pub use crate::config::{cty, msgpack};
pub use crate::runtime::handshake::CORE_PROTOCOL_VERSION;

/// Config schemas on the wire.
pub mod schema {
    use nomad_plugin_proto::nomad::hclspec as pb;

    use crate::config::schema::Spec;
    use crate::config::Error;

    /// Reads the `hclspec.Spec` a plugin sent, with the checks Nomad's
    /// `hclspecutils` applies; the error names what Nomad would refuse.
    pub fn from_proto(spec: &pb::Spec) -> Result<Spec, Error> {
        Spec::from_proto(spec)
    }

    /// The protobuf form of `spec`, as a plugin answers `ConfigSchema`.
    pub fn to_proto(spec: &Spec) -> pb::Spec {
        spec.to_proto()
    }
}

/// Device plugin messages.
#[cfg(feature = "device")]
pub mod device {
    use std::time::SystemTime;

    use nomad_plugin_proto::nomad::device as pb;

    use crate::device::{ContainerReservation, DeviceGroup, DeviceGroupStats, InvalidFingerprint};

    /// Reads one device group of a `Fingerprint` answer with Nomad's checks.
    pub fn group_from_proto(group: &pb::DeviceGroup) -> Result<DeviceGroup, InvalidFingerprint> {
        DeviceGroup::from_proto(group)
    }

    /// The protobuf form of a device group.
    pub fn group_to_proto(group: &DeviceGroup) -> pb::DeviceGroup {
        group.to_proto()
    }

    /// Reads the reservation of a `Reserve` answer.
    pub fn reservation_from_proto(reservation: &pb::ContainerReservation) -> ContainerReservation {
        ContainerReservation::from_proto(reservation)
    }

    /// The protobuf form of a reservation.
    pub fn reservation_to_proto(reservation: &ContainerReservation) -> pb::ContainerReservation {
        reservation.to_proto()
    }

    /// Reads one group of a `Stats` answer.
    pub fn stats_from_proto(stats: &pb::DeviceGroupStats) -> DeviceGroupStats {
        DeviceGroupStats::from_proto(stats)
    }

    /// The protobuf form of a group's statistics; values without a time
    /// are stamped `now`.
    pub fn stats_to_proto(stats: &DeviceGroupStats, now: SystemTime) -> pb::DeviceGroupStats {
        stats.to_proto(now)
    }
}

/// Nomad Autoscaler messages: the conversions the SDK's autoscaler services
/// use, for the other side of the same calls.
#[cfg(feature = "autoscaler")]
pub mod autoscaler {
    pub use crate::autoscaler::wire::*;
}

/// The client half of go-plugin's AutoMTLS: a certificate for the host and a
/// TLS client that accepts only the plugin's certificate from the handshake.
#[cfg(feature = "automtls")]
pub mod mtls {
    pub use crate::runtime::mtls::{client_config, generate_cert, provider, GeneratedCert};
}

//! Wire types for HashiCorp Nomad plugins.
//!
//! This crate holds no logic: it is the protobuf messages and the tonic client
//! and server stubs generated from `.proto` files that are wire-identical to the
//! ones HashiCorp's projects speak (same packages, services, methods, field
//! numbers and types). Plugin authors normally use `nomad-plugin-sdk`, which
//! hides these types behind traits named after Nomad's own concepts; reach for
//! this crate only when you need the raw protocol.
//!
//! | module | upstream proto package | spoken by |
//! |---|---|---|
//! | [`go_plugin`] | `plugin` | hashicorp/go-plugin's controller, stdio and broker services |
//! | [`nomad::base`] | `hashicorp.nomad.plugins.base.proto` | every Nomad plugin (`PluginInfo`, `ConfigSchema`, `SetConfig`) |
//! | [`nomad::drivers`] | `hashicorp.nomad.plugins.drivers.proto` | task drivers |
//! | [`nomad::device`] | `hashicorp.nomad.plugins.device` | device plugins |
//! | [`nomad::hclspec`] | `hashicorp.nomad.plugins.shared.hclspec` | configuration schemas |
//! | [`nomad::structs`] | `hashicorp.nomad.plugins.shared.structs` | attributes, stats, recoverable errors |
//! | [`csi`] | `csi.v1` | Container Storage Interface plugins |
//! | [`autoscaler`] | `hashicorp.nomad_autoscaler.plugins.*.proto.v1` | Nomad Autoscaler APM, strategy and target plugins |
//!
//! Every service comes with a `*_server` module (to implement it) and a
//! `*_client` module (to call it), for example
//! [`nomad::drivers::driver_server::DriverServer`] and
//! [`nomad::drivers::driver_client::DriverClient`].
//!
//! ```
//! use nomad_plugin_proto::nomad::base::{PluginInfoResponse, PluginType};
//!
//! let info = PluginInfoResponse {
//!     r#type: PluginType::Driver as i32,
//!     plugin_api_versions: vec!["0.1.0".into()],
//!     plugin_version: "0.1.0".into(),
//!     name: "example".into(),
//! };
//! assert_eq!(info.name, "example");
//! ```
#![warn(missing_docs)]

#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    rustdoc::invalid_html_tags,
    rustdoc::broken_intra_doc_links,
    rustdoc::bare_urls,
    rustdoc::invalid_rust_codeblocks
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/_includes.rs"));
}

pub use prost;
pub use prost_types;
pub use tonic;

/// The serialized `FileDescriptorSet` of every `.proto` file in this crate
/// (including the well-known types they import). Useful for gRPC reflection
/// and for checking the wire description at run time.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

/// hashicorp/go-plugin's own services, served by every go-plugin plugin:
/// `plugin.GRPCController`, `plugin.GRPCStdio` and `plugin.GRPCBroker`.
pub mod go_plugin {
    pub use crate::generated::plugin::*;
}

/// The services and messages Nomad uses to talk to task driver and device
/// plugins (`hashicorp.nomad.plugins.*`).
pub mod nomad {
    /// `hashicorp.nomad.plugins.base.proto`: the `BasePlugin` service every
    /// Nomad plugin implements.
    pub mod base {
        pub use crate::generated::hashicorp::nomad::plugins::base::proto::*;
    }
    /// `hashicorp.nomad.plugins.drivers.proto`: the `Driver` service.
    pub mod drivers {
        pub use crate::generated::hashicorp::nomad::plugins::drivers::proto::*;
    }
    /// `hashicorp.nomad.plugins.device`: the `DevicePlugin` service.
    pub mod device {
        pub use crate::generated::hashicorp::nomad::plugins::device::*;
    }
    /// `hashicorp.nomad.plugins.shared.hclspec`: the schema language a plugin
    /// uses to describe its configuration.
    pub mod hclspec {
        pub use crate::generated::hashicorp::nomad::plugins::shared::hclspec::*;
    }
    /// `hashicorp.nomad.plugins.shared.structs`: attributes with units,
    /// statistics values and the recoverable-error status detail.
    pub mod structs {
        pub use crate::generated::hashicorp::nomad::plugins::shared::structs::*;
    }
}

/// `csi.v1`: the Container Storage Interface (Identity, Controller, Node,
/// GroupController and SnapshotMetadata services), at the spec version Nomad
/// vendors.
pub mod csi {
    pub use crate::generated::csi::v1::*;
}

/// The Nomad Autoscaler's plugin services
/// (`hashicorp.nomad_autoscaler.plugins.*.proto.v1`).
pub mod autoscaler {
    /// `BasePluginService`: plugin info and configuration.
    pub mod base {
        pub use crate::generated::hashicorp::nomad_autoscaler::plugins::base::proto::v1::*;
    }
    /// `APMPluginService`: metric queries.
    pub mod apm {
        pub use crate::generated::hashicorp::nomad_autoscaler::plugins::apm::proto::v1::*;
    }
    /// `StrategyPluginService`: scaling decisions.
    pub mod strategy {
        pub use crate::generated::hashicorp::nomad_autoscaler::plugins::strategy::proto::v1::*;
    }
    /// `TargetPluginService`: scaling actions and target status.
    pub mod target {
        pub use crate::generated::hashicorp::nomad_autoscaler::plugins::target::proto::v1::*;
    }
    /// Types shared by the autoscaler services (time ranges, metrics,
    /// scaling actions and checks).
    pub mod shared {
        pub use crate::generated::hashicorp::nomad_autoscaler::plugins::shared::proto::v1::*;
    }
}

//! Write HashiCorp Nomad plugins in Rust.
//!
//! A plugin author implements one async trait and calls one `serve` function;
//! an unmodified Nomad agent then loads the binary exactly as it loads a
//! plugin written in Go with hashicorp/go-plugin.
#![warn(missing_docs)]

#[cfg(feature = "autoscaler")]
pub mod autoscaler;
pub mod base;
pub mod config;
#[cfg(feature = "driver")]
pub mod driver;
mod error;
#[cfg(feature = "csi")]
pub mod csi;
pub mod runtime;

pub use error::PluginError;

/// Derives [`config::schema::ConfigSchema`] for a serde config struct; see
/// the [`config`] module for an example.
pub use nomad_plugin_derive::ConfigSchema;

#[cfg(feature = "common-plugins")]
pub mod common;
#[cfg(feature = "device")]
pub mod device;
#[cfg(feature = "host-volume")]
pub mod host_volume;
#[cfg(feature = "secrets")]
pub mod secrets;

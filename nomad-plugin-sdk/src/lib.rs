//! Write HashiCorp Nomad plugins in Rust.
//!
//! A plugin author implements one async trait and calls one `serve` function;
//! an unmodified Nomad agent then loads the binary exactly as it loads a
//! plugin written in Go with hashicorp/go-plugin.
#![warn(missing_docs)]

pub mod config;
#[cfg(feature = "csi")]
pub mod csi;
pub mod runtime;

/// Derives [`config::schema::ConfigSchema`] for a serde config struct; see
/// the [`config`] module for an example.
pub use nomad_plugin_derive::ConfigSchema;

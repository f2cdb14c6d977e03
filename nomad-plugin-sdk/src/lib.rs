//! Write HashiCorp Nomad plugins in Rust.
//!
//! A plugin author implements one async trait and calls one `serve` function;
//! an unmodified Nomad agent then loads the binary exactly as it loads a
//! plugin written in Go with hashicorp/go-plugin.
#![warn(missing_docs)]

pub mod runtime;

#[cfg(feature = "common-plugins")]
pub mod common;
#[cfg(feature = "host-volume")]
pub mod host_volume;
#[cfg(feature = "secrets")]
pub mod secrets;

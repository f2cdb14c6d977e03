//! Launch and certify HashiCorp Nomad plugins the way a Nomad client does.
//!
//! The testkit is the host side of the plugin protocols: it starts any
//! plugin binary (written with `nomad-plugin-sdk` or in Go) exactly as a
//! Nomad agent would, talks to it over gRPC, and checks what it answers
//! against what Nomad expects.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod autoscaler;
pub mod common;
pub mod csi;
pub mod device;
pub mod driver;
/// Decode HCL config the way the Nomad client does (hcldec + go-cty msgpack).
pub mod hcl;
pub mod launch;
pub mod report;
pub mod verification;

//! Launch and certify HashiCorp Nomad plugins the way a Nomad client does.
#![warn(missing_docs)]

/// Decode HCL config the way the Nomad client does (hcldec + go-cty msgpack).
pub mod hcl;

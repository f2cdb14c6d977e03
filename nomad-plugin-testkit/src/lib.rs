//! Launch and certify HashiCorp Nomad plugins the way a Nomad client does.
#![warn(missing_docs)]
pub mod common;

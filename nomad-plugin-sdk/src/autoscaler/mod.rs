//! Nomad Autoscaler plugins: APM (metrics), strategy (decisions) and target
//! (scaling) plugins, loaded by the autoscaler agent's plugin manager over
//! go-plugin gRPC (autoscaler 0.3.0 and later).
//!
//! Implement [`Base`] and one of [`Apm`], [`Strategy`] or [`Target`], then
//! call that kind's `serve` ([`apm::serve`], [`strategy::serve`],
//! [`target::serve`]) from `main`:
//!
//! ```no_run
//! use nomad_plugin_sdk::autoscaler::prelude::*;
//!
//! /// Answers every query with one sample: the query parsed as a number.
//! struct Echo;
//!
//! #[async_trait]
//! impl Base for Echo {}
//!
//! #[async_trait]
//! impl Apm for Echo {
//!     async fn query(&self, query: &str, range: TimeRange)
//!         -> Result<Vec<TimestampedMetric>, AutoscalerError>
//!     {
//!         let value = query
//!             .parse()
//!             .map_err(|_| AutoscalerError::query(query, "expected a number"))?;
//!         Ok(vec![TimestampedMetric::new(range.to, value)])
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     nomad_plugin_sdk::autoscaler::apm::serve(Echo)
//! }
//! ```
//!
//! Put the binary in the agent's `plugin_dir` and name it in the agent
//! config; the block label is how policies refer to the plugin, `driver` is
//! the binary's file name:
//!
//! ```hcl
//! apm "echo" {
//!   driver = "echo-apm"
//!   config = { any = "setting" }
//! }
//! ```
//!
//! | step | what the agent does | what the SDK does |
//! |---|---|---|
//! | launch | runs `<plugin_dir>/<driver>` with `NOMAD_AUTOSCALER_PLUGIN_MAGIC_COOKIE` | checks the cookie, prints `1\|1\|unix\|<socket>\|grpc\|` ([`Handshake::AUTOSCALER`](crate::runtime::Handshake::AUTOSCALER)) |
//! | `PluginInfo` | refuses the plugin unless name = `driver` and type = block kind | answers [`Base::name`] (default: the binary's file name) and the trait's kind |
//! | `SetConfig` | sends `config` plus its `nomad_*` settings ([`config`]) | calls [`Base::set_config`] with a [`ConfigMap`] |
//! | calls | `Query`, `Run`, `Status`/`Scale`, with no deadline except a target's `Status` | converts to and from the types of this module; errors through [`AutoscalerError`] |
//! | stop | go-plugin's `Shutdown`, SIGKILL two seconds later | stops serving and exits |

pub mod apm;
mod base;
pub mod config;
mod error;
pub mod strategy;
pub mod target;
mod types;
pub(crate) mod wire;

use std::sync::Arc;

use std::process::ExitCode;

use nomad_plugin_proto::autoscaler::base::base_plugin_service_server::BasePluginServiceServer;
use tonic::service::Routes;

use crate::runtime::{self, limit_message_size, Handshake};

pub use apm::Apm;
pub use base::{binary_name, Base};
pub use config::{ConfigMap, HttpAuth, NomadConfig};
pub use error::AutoscalerError;
pub use strategy::Strategy;
pub use target::Target;
pub use types::{
    ScalingAction, ScalingCheckEvaluation, ScalingDirection, ScalingPolicyCheck,
    ScalingPolicyStrategy, TargetStatus, TimeRange, TimestampedMetric,
};

use base::{BaseService, Kind};

/// Everything a plugin's `main.rs` needs: the traits, their types and
/// `async_trait`.
pub mod prelude {
    pub use super::{
        Apm, AutoscalerError, Base, ConfigMap, NomadConfig, ScalingAction, ScalingCheckEvaluation,
        ScalingDirection, ScalingPolicyCheck, Strategy, Target, TargetStatus, TimeRange,
        TimestampedMetric,
    };
    pub use async_trait::async_trait;
}

/// `BasePluginService` announcing `kind`, the start of every autoscaler
/// plugin's routes.
fn base_routes<P: Base + ?Sized>(plugin: Arc<P>, kind: Kind) -> Routes {
    Routes::new(limit_message_size!(BasePluginServiceServer::new(
        BaseService { plugin, kind }
    )))
}

/// Runs `routes` behind the autoscaler's handshake until the agent stops
/// the plugin: what each kind's `serve` does.
fn run(name: &str, routes: impl FnOnce() -> Routes) -> ExitCode {
    runtime::run(Handshake::AUTOSCALER, name, routes)
}

//! Nomad Autoscaler plugins: APM (metrics), strategy (decisions) and target
//! (scaling) plugins, loaded by the autoscaler agent's plugin manager over
//! go-plugin gRPC (autoscaler 0.3.0 and later).
//!
//! Implement [`Base`] and one of [`Apm`], [`Strategy`] or [`Target`], then
//! call the kind's `serve` function from `main`:
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
//! fn main() {
//!     nomad_plugin_sdk::autoscaler::serve_apm(Echo);
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

mod apm;
mod base;
pub mod config;
mod error;
mod strategy;
mod target;
mod types;
pub mod wire;

use std::sync::Arc;

use nomad_plugin_proto::autoscaler::apm::apm_plugin_service_server::ApmPluginServiceServer;
use nomad_plugin_proto::autoscaler::base::base_plugin_service_server::BasePluginServiceServer;
use nomad_plugin_proto::autoscaler::strategy::strategy_plugin_service_server::StrategyPluginServiceServer;
use nomad_plugin_proto::autoscaler::target::target_plugin_service_server::TargetPluginServiceServer;
use tonic::service::Routes;

use crate::runtime::{self, Handshake, MAX_MESSAGE_SIZE};

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

macro_rules! sized {
    ($server:expr) => {
        $server
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    };
}

fn base_routes<P: Base + ?Sized>(plugin: Arc<P>, kind: Kind) -> Routes {
    Routes::new(sized!(BasePluginServiceServer::new(BaseService {
        plugin,
        kind
    })))
}

/// The gRPC services of an APM plugin (`BasePluginService` and
/// `APMPluginService`), for [`runtime::serve`] when embedding.
pub fn apm_routes<P: Apm>(plugin: P) -> Routes {
    let plugin = Arc::new(plugin);
    base_routes(plugin.clone(), Kind::Apm).add_service(sized!(ApmPluginServiceServer::new(
        apm::ApmService { plugin }
    )))
}

/// The gRPC services of a strategy plugin (`BasePluginService` and
/// `StrategyPluginService`).
pub fn strategy_routes<P: Strategy>(plugin: P) -> Routes {
    let plugin = Arc::new(plugin);
    base_routes(plugin.clone(), Kind::Strategy).add_service(sized!(
        StrategyPluginServiceServer::new(strategy::StrategyService { plugin })
    ))
}

/// The gRPC services of a target plugin (`BasePluginService` and
/// `TargetPluginService`).
pub fn target_routes<P: Target>(plugin: P) -> Routes {
    let plugin = Arc::new(plugin);
    base_routes(plugin.clone(), Kind::Target).add_service(sized!(TargetPluginServiceServer::new(
        target::TargetService { plugin }
    )))
}

/// Runs an APM plugin until the agent stops it: the whole `main`.
///
/// Checks the autoscaler's magic cookie (a binary started by hand prints
/// go-plugin's "This binary is a plugin" message and exits 1), logs through
/// `tracing` as go-hclog JSON under the plugin's name, and serves. Exits
/// the process with status 1 if serving fails.
pub fn serve_apm<P: Apm>(plugin: P) {
    let name = plugin.name();
    runtime::run(Handshake::AUTOSCALER, &name, move || apm_routes(plugin));
}

/// Runs a strategy plugin until the agent stops it; see [`serve_apm`].
pub fn serve_strategy<P: Strategy>(plugin: P) {
    let name = plugin.name();
    runtime::run(Handshake::AUTOSCALER, &name, move || {
        strategy_routes(plugin)
    });
}

/// Runs a target plugin until the agent stops it; see [`serve_apm`].
pub fn serve_target<P: Target>(plugin: P) {
    let name = plugin.name();
    runtime::run(Handshake::AUTOSCALER, &name, move || target_routes(plugin));
}

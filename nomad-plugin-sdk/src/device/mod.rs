//! Device plugins: GPUs, FPGAs and other hardware that Nomad schedules and
//! hands to tasks.
//!
//! Implement [`Device`] (and [`BasePlugin`]) and call [`serve`]:
//!
//! ```no_run
//! use nomad_plugin_sdk::base::{BasePlugin, PluginInfo};
//! use nomad_plugin_sdk::device::{
//!     self, Attribute, ContainerReservation, Device, DeviceGroup, DeviceGroupStats,
//!     DeviceInstance, DeviceSpec, DeviceStats, StatValue,
//! };
//! use nomad_plugin_sdk::PluginError;
//!
//! struct Fpga;
//!
//! #[nomad_plugin_sdk::async_trait]
//! impl BasePlugin for Fpga {
//!     type Config = ();
//!     fn info(&self) -> PluginInfo {
//!         PluginInfo::new("acme-fpga", "0.1.0")
//!     }
//! }
//!
//! #[nomad_plugin_sdk::async_trait]
//! impl Device for Fpga {
//!     async fn fingerprint(&self) -> Result<Vec<DeviceGroup>, PluginError> {
//!         Ok(vec![DeviceGroup::new("acme", "fpga", "X100")
//!             .device(DeviceInstance::new("card-0").pci_bus_id("0000:3b:00.0"))
//!             .attribute("memory", Attribute::mib(16384))])
//!     }
//!
//!     async fn reserve(&self, ids: &[String]) -> Result<ContainerReservation, PluginError> {
//!         // The SDK has already refused ids it never fingerprinted.
//!         let mut r = ContainerReservation::new().env("ACME_CARDS", ids.join(","));
//!         for id in ids {
//!             let n = id.trim_start_matches("card-");
//!             r = r.device(DeviceSpec::new(format!("/dev/acme{n}")));
//!         }
//!         Ok(r)
//!     }
//!
//!     async fn stats(&self) -> Result<Vec<DeviceGroupStats>, PluginError> {
//!         let group = DeviceGroup::new("acme", "fpga", "X100");
//!         Ok(vec![DeviceGroupStats::of(&group).instance(
//!             "card-0",
//!             DeviceStats::new(StatValue::int(55).unit("C").desc("temperature")),
//!         )])
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     device::serve(Fpga)
//! }
//! ```
//!
//! # What the SDK does for you
//!
//! | Nomad expects | the SDK |
//! |---|---|
//! | a `Fingerprint` stream that never ends (an ended or failed stream makes Nomad drop the plugin until the agent restarts) | calls [`Device::fingerprint`] at once, then every [`Device::fingerprint_period`] and whenever [`Device::changed`] fires; sends a snapshot only when it differs ([`FingerprintDiff`]); keeps the stream open whatever the plugin does |
//! | a fingerprint error not to end the stream | logs it, sends the last good devices marked unhealthy with the error as their health description (an empty list before any success), and retries after 1 s, 2 s, 4 s … up to the period |
//! | only valid snapshots (Nomad kills a plugin that sends a bad one) | checks each ([`DeviceGroup::validate`]) and treats a bad one as an error; units are typed ([`Unit`]) so they cannot be wrong |
//! | `Reserve` to always carry a reservation (a nil one panics the client) and to refuse ids it does not know | answers an empty list with an empty reservation, refuses ids absent from the latest fingerprint with `NotFound: unknown device IDs: …`, and checks the plugin's answer |
//! | `Stats` at the interval asked (0 = 1 s), each value with a timestamp | calls [`Device::stats`] on that interval, stamps values that have no time, skips a failed round instead of ending the stream |
//!
//! A panic in a plugin method is caught and treated as an error.

mod diff;
mod fingerprint;
mod reserve;
mod service;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub use crate::attribute::{Attribute, Unit, UnitBase, UnknownUnit};
pub use diff::FingerprintDiff;
pub use fingerprint::{validate_fingerprint, DeviceGroup, DeviceInstance, InvalidFingerprint};
pub use reserve::{ContainerReservation, DeviceSpec, Mount};
pub use stats::{DeviceGroupStats, DeviceStats, Stat, StatObject, StatValue};

use crate::base::{base_routes, BasePlugin, PluginKind};
use crate::runtime::{self, Handshake};
use crate::PluginError;
use tonic::service::Routes;

/// How often the SDK fingerprints when the plugin does not say: one
/// minute, as Nomad's nvidia plugin.
pub const DEFAULT_FINGERPRINT_PERIOD: Duration = Duration::from_secs(60);

/// A device plugin. Nomad starts it with the agent, configures it
/// ([`BasePlugin::set_config`]), opens one fingerprint stream and, after the
/// first fingerprint, one stats stream; it calls `Reserve` when a task that
/// asked for devices is about to start.
#[async_trait::async_trait]
pub trait Device: BasePlugin {
    /// Detects the devices now and returns all of them (a complete snapshot:
    /// a device missing from it is gone for Nomad).
    ///
    /// Called when Nomad opens the fingerprint stream, then every
    /// [`fingerprint_period`](Self::fingerprint_period) and whenever
    /// [`changed`](Self::changed) returns. Nomad updates the node when the
    /// snapshot differs. An error is logged and retried; meanwhile the last
    /// good devices are reported unhealthy with the error as the reason.
    async fn fingerprint(&self) -> Result<Vec<DeviceGroup>, PluginError>;

    /// How long to wait between fingerprints. Read before each wait, so it
    /// may come from the configuration set in
    /// [`BasePlugin::set_config`]. Default: one minute.
    fn fingerprint_period(&self) -> Duration {
        DEFAULT_FINGERPRINT_PERIOD
    }

    /// Returns when the plugin knows its devices changed (a hot-plug event,
    /// a health watcher), to fingerprint before the period is over. The
    /// default never returns. Must wait for an event, not return at once
    /// in a loop.
    async fn changed(&self) {
        std::future::pending::<()>().await
    }

    /// Prepares `ids` (all from one group, never empty, all present in the
    /// latest fingerprint) for a task and says how to expose them: the
    /// environment variables, mounts and device nodes the task gets.
    ///
    /// Nomad calls it in the task's prestart; an error fails the task's
    /// start with `failed to reserve device ...: <message>`.
    async fn reserve(&self, ids: &[String]) -> Result<ContainerReservation, PluginError>;

    /// Reads the statistics of the devices now. Called at the interval
    /// Nomad asks for (one second by default); a failed round is logged
    /// and skipped.
    async fn stats(&self) -> Result<Vec<DeviceGroupStats>, PluginError>;
}

/// Serves `plugin` to Nomad as a device plugin: the one line of a device
/// plugin's `main`. Returns [`ExitCode::SUCCESS`] when Nomad stops the
/// plugin, and status 1 when it cannot serve (for example when run by hand,
/// without Nomad's cookie).
pub fn serve<P: Device>(plugin: P) -> ExitCode {
    let name = plugin.info().name;
    let plugin = Arc::new(plugin);
    runtime::run(Handshake::NOMAD, &name, move || routes(plugin))
}

/// The plugin's gRPC services (`BasePlugin` announcing a device plugin, and
/// `DevicePlugin`), for embedding in a test with [`runtime::serve`].
pub fn routes<P: Device>(plugin: Arc<P>) -> Routes {
    let mut routes = base_routes(plugin.clone(), PluginKind::Device);
    routes.add_service(runtime::limit_message_size!(
        nomad_plugin_proto::nomad::device::device_plugin_server::DevicePluginServer::new(
            service::DeviceService::new(plugin),
        )
    ));
    routes.routes()
}

#[cfg(test)]
mod tests;

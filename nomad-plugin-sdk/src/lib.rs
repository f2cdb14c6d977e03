//! Write HashiCorp Nomad plugins in Rust.
//!
//! A plugin author implements one async trait and calls one `serve`
//! function; an unmodified Nomad agent (or the Nomad Autoscaler, or a CSI
//! host) then loads the binary exactly as it loads a plugin written in Go.
//! Plugin code never sees protobuf types, msgpack or the go-plugin
//! handshake: it sees Nomad's concepts ([`driver::Task`],
//! [`driver::ExitResult`], a device's instances, a CSI volume) and returns
//! [`PluginError`]s that reach Nomad as the gRPC status it expects.
//!
//! Enable the plugin kinds you need:
//!
//! | feature | module | plugin kind | entry point |
//! |---|---|---|---|
//! | `driver` | [`driver`] | task driver (`driver = "..."` in jobs) | `driver::serve` |
//! | `device` | `device` | device plugin (GPUs, FPGAs, disks) | `device::serve` |
//! | `csi` | `csi` | Container Storage Interface plugin | `csi::serve` |
//! | `autoscaler` | `autoscaler` | Nomad Autoscaler APM, strategy, target | `autoscaler::apm::serve`, `autoscaler::strategy::serve`, `autoscaler::target::serve` |
//! | `host-volume` | `host_volume` | dynamic host volume plugin (exec-based) | `host_volume::serve` |
//! | `secrets` | `secrets` | secret provider plugin (exec-based) | `secrets::serve` |
//! | `automtls` | (runtime) | go-plugin AutoMTLS for hosts that ask for it (Nomad does not) | automatic |
//! | `host` | `host` | the host's side of the protocol, for the testkit and other Nomad imitations; not for plugins | — |
//!
//! Every entry point has the same shape, `serve(plugin) -> ExitCode`, so a
//! plugin's `main` is one line: `fn main() -> ExitCode { driver::serve(MyDriver) }`.
//! The kind Nomad is told comes from the trait the plugin is served
//! through. Every gRPC kind also offers `routes(Arc<plugin>)` (CSI:
//! `csi::routes(CsiPlugin)`): its tonic services, for embedding in a test
//! with [`runtime::serve`].
//!
//! Always present: [`runtime`] (the go-plugin server), [`base`] (what every
//! Nomad gRPC plugin answers), [`config`] (schemas derived from Rust types
//! and Nomad's msgpack config encoding).
//!
//! A complete task driver that runs nothing but reports health and accepts
//! a typed task configuration:
//!
//! ```no_run
//! # #[cfg(feature = "driver")]
//! # mod example {
//! use nomad_plugin_sdk::base::{BasePlugin, PluginInfo};
//! use nomad_plugin_sdk::driver::{self, *};
//! use nomad_plugin_sdk::PluginError;
//! use std::time::Duration;
//!
//! #[derive(serde::Deserialize, nomad_plugin_sdk::ConfigSchema)]
//! struct EchoConfig {
//!     /// What to echo.
//!     #[nomad(required)]
//!     message: String,
//! }
//!
//! #[derive(Default)]
//! struct Echo {
//!     tasks: TaskStore<ExitWatch>,
//! }
//!
//! #[nomad_plugin_sdk::async_trait]
//! impl BasePlugin for Echo {
//!     type Config = ();
//!     fn info(&self) -> PluginInfo {
//!         PluginInfo::new("echo", "0.1.0")
//!     }
//! }
//!
//! #[nomad_plugin_sdk::async_trait]
//! impl Driver for Echo {
//!     type TaskConfig = EchoConfig;
//!     type State = ();
//!     async fn fingerprint(&self) -> Fingerprint {
//!         Fingerprint::healthy()
//!     }
//!     async fn start_task(&self, t: Task<EchoConfig>) -> Result<StartedTask<()>, PluginError> {
//!         tracing::info!(task = %t.id, message = %t.config.message, "echo");
//!         self.tasks.insert(&t.id, ExitWatch::new()).exited(ExitResult::code(0));
//!         Ok(StartedTask::new(()))
//!     }
//!     async fn recover_task(&self, t: RecoveredTask<EchoConfig, ()>) -> Result<(), PluginError> {
//!         self.tasks.insert(&t.id, ExitWatch::new()).exited(ExitResult::code(0));
//!         Ok(())
//!     }
//!     async fn wait_task(&self, id: &str) -> Result<ExitResult, PluginError> {
//!         Ok(self.tasks.get(id)?.wait().await)
//!     }
//!     async fn stop_task(&self, id: &str, _: Duration, _: &str) -> Result<(), PluginError> {
//!         self.tasks.get(id).map(|_| ())
//!     }
//!     async fn destroy_task(&self, id: &str, _: bool) -> Result<(), PluginError> {
//!         self.tasks.remove(id);
//!         Ok(())
//!     }
//!     async fn inspect_task(&self, id: &str) -> Result<TaskStatus, PluginError> {
//!         let exit = self.tasks.get(id)?.result();
//!         Ok(TaskStatus::new(TaskState::Exited).exit(exit))
//!     }
//!     async fn task_stats(&self, id: &str) -> Result<TaskResourceUsage, PluginError> {
//!         self.tasks.get(id).map(|_| TaskResourceUsage::default())
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     driver::serve(Echo::default())
//! }
//! # }
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "driver", feature = "device"))]
pub mod attribute;
#[cfg(feature = "autoscaler")]
#[cfg_attr(docsrs, doc(cfg(feature = "autoscaler")))]
pub mod autoscaler;
pub mod base;
pub mod config;
#[cfg(feature = "csi")]
#[cfg_attr(docsrs, doc(cfg(feature = "csi")))]
pub mod csi;
#[cfg(feature = "driver")]
#[cfg_attr(docsrs, doc(cfg(feature = "driver")))]
pub mod driver;
mod error;
pub mod runtime;

pub use error::PluginError;

/// The attribute every plugin trait is implemented with, re-exported so a
/// plugin needs no dependency besides this crate:
/// `#[nomad_plugin_sdk::async_trait]`.
pub use async_trait::async_trait;

/// Derives [`config::schema::ConfigSchema`] for a serde config struct; see
/// the [`config`] module for an example.
pub use nomad_plugin_derive::ConfigSchema;

#[cfg(feature = "common-plugins")]
#[cfg_attr(docsrs, doc(cfg(feature = "common-plugins")))]
pub mod common;
#[cfg(feature = "device")]
#[cfg_attr(docsrs, doc(cfg(feature = "device")))]
pub mod device;
#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "host-volume")]
#[cfg_attr(docsrs, doc(cfg(feature = "host-volume")))]
pub mod host_volume;
#[cfg(feature = "secrets")]
#[cfg_attr(docsrs, doc(cfg(feature = "secrets")))]
pub mod secrets;

//! What every Nomad plugin answers, whatever its kind: who it is
//! (`PluginInfo`), how its agent configuration looks (`ConfigSchema`), and
//! the configuration itself (`SetConfig`).
//!
//! A plugin implements [`BasePlugin`] next to its kind's trait (`Driver`,
//! `Device`). Its agent configuration is a serde struct with
//! `#[derive(ConfigSchema)]`, or `()` when it takes none:
//!
//! ```
//! use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
//! use nomad_plugin_sdk::PluginError;
//! use serde::Deserialize;
//!
//! /// `plugin "hello" { config { ... } }`
//! #[derive(Deserialize, nomad_plugin_sdk::ConfigSchema)]
//! struct HelloConfig {
//!     /// Greeting put in front of every task's output.
//!     #[nomad(default = "hello")]
//!     greeting: String,
//! }
//!
//! struct Hello;
//!
//! #[nomad_plugin_sdk::async_trait]
//! impl BasePlugin for Hello {
//!     type Config = HelloConfig;
//!
//!     fn info(&self) -> PluginInfo {
//!         PluginInfo::new("hello", env!("CARGO_PKG_VERSION"))
//!     }
//!
//!     async fn set_config(&self, config: HelloConfig, agent: AgentConfig) -> Result<(), PluginError> {
//!         tracing::info!(greeting = %config.greeting, api = %agent.api_version, "configured");
//!         Ok(())
//!     }
//! }
//! ```

mod agent;
// Served by the driver and device modules; unused when neither is enabled.
#[cfg_attr(not(any(feature = "driver", feature = "device")), allow(dead_code))]
mod service;

pub use agent::{AgentConfig, Core, CoreGrade, DriverAgentConfig, Topology};
#[cfg_attr(
    not(any(feature = "driver", feature = "device")),
    allow(unused_imports)
)]
pub(crate) use service::base_routes;

use serde::de::DeserializeOwned;

use crate::config::schema::{ConfigSchema, Spec};
use crate::PluginError;

/// The Nomad plugin API version every current Nomad agent requires.
pub const PLUGIN_API_VERSION: &str = "v0.1.0";

/// The kind a plugin announces in `PluginInfo`. It comes from the trait
/// the plugin is served through (`driver::serve` announces a driver), never
/// from the plugin's own answer, so a plugin cannot be served as one kind
/// and announce another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(any(feature = "driver", feature = "device")), allow(dead_code))]
pub(crate) enum PluginKind {
    /// A task driver (`driver = "..."` in job files).
    #[cfg_attr(not(feature = "driver"), allow(dead_code))]
    Driver,
    /// A device plugin (GPUs, FPGAs, ...).
    #[cfg_attr(not(feature = "device"), allow(dead_code))]
    Device,
}

/// Who the plugin is, as Nomad's `PluginInfo` reports it (the kind is
/// added by the kind's `serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginInfo {
    /// The plugin's name: the `driver` value in job files and the prefix of
    /// its node attributes. Keep the binary's file name equal to it.
    pub name: String,
    /// The plugin's own version (semantic, `1.2.3`); among plugins with the
    /// same name Nomad keeps the highest.
    pub version: String,
    /// Nomad plugin API versions spoken; must include `v0.1.0`.
    pub api_versions: Vec<String>,
}

impl PluginInfo {
    /// Info for a plugin named `name` at `version`, speaking plugin API
    /// `v0.1.0`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            api_versions: vec![PLUGIN_API_VERSION.to_string()],
        }
    }

    /// Replaces the plugin API versions announced (default: `v0.1.0`).
    pub fn api_versions(mut self, versions: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.api_versions = versions.into_iter().map(Into::into).collect();
        self
    }
}

/// A plugin's agent configuration type: a derived config struct, or `()` for
/// a plugin that takes no `config` block.
pub trait PluginConfig: Sized + Send + 'static {
    /// The schema reported by `ConfigSchema`; `None` means "no configuration"
    /// (Nomad then refuses a `config` block for this plugin).
    fn schema() -> Option<Spec>;
    /// Decodes the msgpack Nomad sent in `SetConfig`.
    fn decode(msgpack: &[u8]) -> Result<Self, crate::config::Error>;
}

impl<T: ConfigSchema + DeserializeOwned + Send + 'static> PluginConfig for T {
    fn schema() -> Option<Spec> {
        Some(T::schema())
    }
    fn decode(msgpack: &[u8]) -> Result<Self, crate::config::Error> {
        crate::config::from_msgpack(msgpack)
    }
}

impl PluginConfig for () {
    fn schema() -> Option<Spec> {
        None
    }
    fn decode(_: &[u8]) -> Result<Self, crate::config::Error> {
        Ok(())
    }
}

/// The part of the plugin protocol every Nomad plugin shares.
#[async_trait::async_trait]
pub trait BasePlugin: Send + Sync + 'static {
    /// The `plugin "name" { config { ... } }` block's type.
    type Config: PluginConfig;

    /// Who the plugin is. Nomad calls `PluginInfo` when the agent starts,
    /// on every reattach, and before `SetConfig`.
    fn info(&self) -> PluginInfo;

    /// Receives the agent configuration. Nomad calls it twice at agent start
    /// to validate the block (with no agent settings: `agent.driver` is
    /// `None`), then once on the instance it keeps. An error stops the Nomad
    /// agent from starting, with this message in its log: return
    /// [`PluginError::InvalidConfig`] for a bad configuration.
    ///
    /// The default accepts any configuration and ignores it.
    async fn set_config(
        &self,
        config: Self::Config,
        agent: AgentConfig,
    ) -> Result<(), PluginError> {
        let _ = (config, agent);
        Ok(())
    }
}

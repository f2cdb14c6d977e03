//! Device plugins from Nomad's side: launch one as the client's device
//! manager does, certify it with [`DeviceSuite`], or poke it by hand with
//! the interactive launcher ([`repl`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nomad_plugin_testkit::device::{DevicePlugin, DeviceSuite};
//!
//! // Launch, PluginInfo, ConfigSchema, HCL -> msgpack, SetConfig.
//! let plugin = DevicePlugin::launch("target/debug/my-device", Some("period = \"5s\"")).await?;
//! let first = plugin.fingerprints().await?.message().await?;
//! println!("{first:?}");
//! plugin.kill().await?;
//!
//! let report = DeviceSuite::new("target/debug/my-device").run().await;
//! report.assert_passed();
//! # Ok(()) }
//! ```

mod harness;
pub mod repl;
mod suite;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nomad_plugin_proto::nomad::base as basepb;
use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_proto::nomad::device as pb;
use nomad_plugin_proto::nomad::device::device_plugin_client::DevicePluginClient;
use nomad_plugin_sdk::config::schema::Spec;
use tonic::transport::Channel;
use tonic::{Status, Streaming};

use crate::launch::{KillReport, LaunchError, Launcher, RunningPlugin};

pub use harness::{DeviceHarness, DeviceHarnessBuilder, DeviceStatsStream};
pub use suite::DeviceSuite;

/// Why a device plugin could not be brought up the way Nomad does.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// Starting or connecting failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// An RPC of the start-up sequence failed.
    #[error("{call} failed: {status}")]
    Rpc {
        /// The call (`PluginInfo`, `ConfigSchema`, `SetConfig`).
        call: &'static str,
        /// What the plugin answered.
        status: Status,
    },
    /// The plugin is not a device plugin Nomad would load.
    #[error("{0}")]
    NotADevicePlugin(String),
    /// The configuration could not be turned into what Nomad would send.
    #[error("{0}")]
    Config(String),
    /// The plugin did not answer within the harness's patience.
    #[error("{what} did not arrive within {after:?}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        after: Duration,
    },
    /// The plugin answered something Nomad cannot use.
    #[error("{0}")]
    Protocol(String),
}

/// A device plugin started and configured as a Nomad client does it
/// (launch #3 of the agent's start-up): handshake, `PluginInfo`,
/// `ConfigSchema`, the HCL config decoded with that schema and sent as
/// go-cty msgpack in `SetConfig`.
pub struct DevicePlugin {
    running: RunningPlugin,
    pub(crate) client: DevicePluginClient<Channel>,
    info: basepb::PluginInfoResponse,
    schema: Option<Spec>,
}

impl std::fmt::Debug for DevicePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevicePlugin")
            .field("name", &self.info.name)
            .field("version", &self.info.plugin_version)
            .finish()
    }
}

/// The body of a `config { ... }` block, from either that body or a text
/// holding a top-level `config { ... }` block (the file Nomad's
/// `nomad-plugin-launcher` reads).
pub fn config_body(text: &str) -> Result<String, DeviceError> {
    let body = hcl::edit::parser::parse_body(text)
        .map_err(|e| DeviceError::Config(format!("invalid HCL: {}", e.message())))?;
    let config = body.blocks().find(|b| b.ident.as_str() == "config");
    Ok(match config {
        Some(b) if body.attributes().next().is_none() => b.body.to_string(),
        _ => text.to_string(),
    })
}

impl DevicePlugin {
    /// Launches `binary` with Nomad's handshake and configures it with the
    /// body of its `config { ... }` block (`None`: no block, which Nomad
    /// decodes as an empty body).
    pub async fn launch(
        binary: impl Into<PathBuf>,
        config: Option<&str>,
    ) -> Result<Self, DeviceError> {
        Self::launch_with(Launcher::nomad(binary), config).await
    }

    /// Like [`launch`](Self::launch) with a launcher you prepared (extra
    /// environment, timeouts).
    pub async fn launch_with(
        launcher: Launcher,
        config: Option<&str>,
    ) -> Result<Self, DeviceError> {
        let running = launcher.launch().await?;
        let channel = running.channel();
        let mut base = BasePluginClient::new(channel.clone());
        let rpc = |call| move |status| DeviceError::Rpc { call, status };
        let info = base
            .plugin_info(basepb::PluginInfoRequest {})
            .await
            .map_err(rpc("PluginInfo"))?
            .into_inner();
        if info.r#type != basepb::PluginType::Device as i32 {
            return Err(DeviceError::NotADevicePlugin(format!(
                "PluginInfo reports type {:?}, not DEVICE: Nomad would not load it as a device plugin",
                basepb::PluginType::try_from(info.r#type)
                    .map(|t| t.as_str_name().to_string())
                    .unwrap_or_else(|_| info.r#type.to_string())
            )));
        }
        let api = info
            .plugin_api_versions
            .iter()
            .find(|v| v.trim_start_matches('v') == "0.1.0")
            .cloned()
            .ok_or_else(|| {
                DeviceError::NotADevicePlugin(format!(
                    "plugin_api_versions {:?} lacks v0.1.0: Nomad skips the plugin",
                    info.plugin_api_versions
                ))
            })?;
        let schema = base
            .config_schema(basepb::ConfigSchemaRequest {})
            .await
            .map_err(rpc("ConfigSchema"))?
            .into_inner()
            .spec
            .map(|s| nomad_plugin_sdk::host::schema::from_proto(&s))
            .transpose()
            .map_err(|e| {
                DeviceError::Config(format!("the plugin's config schema is invalid: {e}"))
            })?;
        let msgpack = match (&schema, config) {
            (None, Some(_)) => {
                return Err(DeviceError::Config(
                    "configuration not allowed but config passed".into(),
                ))
            }
            (None, None) => Vec::new(),
            (Some(spec), body) => crate::hcl::encode_config(body.unwrap_or(""), spec)
                .map_err(|e| DeviceError::Config(format!("failed to parse config: {e}")))?,
        };
        base.set_config(basepb::SetConfigRequest {
            msgpack_config: msgpack,
            nomad_config: Some(basepb::NomadConfig::default()),
            plugin_api_version: api,
        })
        .await
        .map_err(rpc("SetConfig"))?;
        Ok(DevicePlugin {
            client: DevicePluginClient::new(channel)
                .max_decoding_message_size(nomad_plugin_sdk::runtime::MAX_MESSAGE_SIZE),
            running,
            info,
            schema,
        })
    }

    /// What `PluginInfo` answered.
    pub fn info(&self) -> &basepb::PluginInfoResponse {
        &self.info
    }

    /// The configuration schema, if the plugin has one.
    pub fn schema(&self) -> Option<&Spec> {
        self.schema.as_ref()
    }

    /// The process and connection, for logs and the like.
    pub fn running(&self) -> &RunningPlugin {
        &self.running
    }

    /// The binary.
    pub fn binary_name(&self) -> &str {
        &self.info.name
    }

    /// Opens the `Fingerprint` stream.
    pub async fn fingerprints(&self) -> Result<Streaming<pb::FingerprintResponse>, Status> {
        Ok(self
            .client
            .clone()
            .fingerprint(pb::FingerprintRequest {})
            .await?
            .into_inner())
    }

    /// Calls `Reserve`.
    pub async fn reserve(&self, ids: &[String]) -> Result<pb::ReserveResponse, Status> {
        Ok(self
            .client
            .clone()
            .reserve(pb::ReserveRequest {
                device_ids: ids.to_vec(),
            })
            .await?
            .into_inner())
    }

    /// Opens the `Stats` stream at `interval`.
    pub async fn stats(&self, interval: Duration) -> Result<Streaming<pb::StatsResponse>, Status> {
        let interval = prost_types_duration(interval);
        Ok(self
            .client
            .clone()
            .stats(pb::StatsRequest {
                collection_interval: Some(interval),
            })
            .await?
            .into_inner())
    }

    /// Stops the plugin as Nomad does.
    pub async fn kill(self) -> Result<KillReport, LaunchError> {
        self.running.kill().await
    }

    /// Imitates an agent that dies without killing the plugin (see
    /// [`RunningPlugin::detach`]).
    pub async fn detach(self) -> crate::launch::DetachedPlugin {
        drop(self.client);
        self.running.detach().await
    }
}

fn prost_types_duration(d: Duration) -> nomad_plugin_proto::prost_types::Duration {
    nomad_plugin_proto::prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A short name for reports: the file name of `path`.
pub(crate) fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_body_accepts_a_block_or_a_body() {
        let body = config_body("config {\n  period = \"5s\"\n}\n").unwrap();
        assert!(body.contains("period = \"5s\""), "{body}");
        assert!(!body.contains("config"), "{body}");
        assert_eq!(
            config_body("period = \"5s\"\n").unwrap(),
            "period = \"5s\"\n"
        );
        assert!(config_body("config {").is_err());
    }
}

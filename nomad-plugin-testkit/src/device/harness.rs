//! A device plugin under test, held as the Nomad client's device manager
//! holds it, with typed calls for a vendor's own tests.

use std::path::PathBuf;
use std::time::Duration;

use nomad_plugin_proto::nomad::device as pb;
use nomad_plugin_sdk::device::{ContainerReservation, DeviceGroup, DeviceGroupStats};
use tonic::Streaming;

use super::suite::parse_groups;
use super::{DeviceError, DevicePlugin};
use crate::driver::instance::StreamWatch;
use crate::launch::{Launcher, StderrLine};

/// A launched, configured device plugin whose fingerprint stream is open
/// and read in the background, as Nomad keeps it open for the plugin's
/// life.
///
/// ```no_run
/// # async fn demo() -> Result<(), nomad_plugin_testkit::device::DeviceError> {
/// use std::time::Duration;
/// use nomad_plugin_testkit::device::DeviceHarness;
///
/// let harness = DeviceHarness::builder("target/debug/my-device")
///     .config_hcl(r#"model = "deluxe""#)
///     .launch()
///     .await?;
/// let groups = harness.fingerprint().await?;
/// let id = groups[0].devices[0].id.clone();
/// let reservation = harness.reserve(&[id]).await?;
/// assert!(!reservation.envs.is_empty());
/// let mut stats = harness.stats(Duration::from_secs(1)).await?;
/// let first = stats.next().await?;
/// assert_eq!(first.len(), groups.len());
/// harness.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct DeviceHarness {
    plugin: DevicePlugin,
    fingerprints: StreamWatch<pb::FingerprintResponse>,
    patience: Duration,
}

impl std::fmt::Debug for DeviceHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceHarness")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DeviceHarness`].
#[derive(Debug, Clone)]
pub struct DeviceHarnessBuilder {
    launcher: Launcher,
    config: Option<String>,
    patience: Duration,
}

impl DeviceHarnessBuilder {
    /// The body of the plugin's `config { ... }` block (or a text holding
    /// such a block, as Nomad's `nomad-plugin-launcher` reads it).
    pub fn config_hcl(mut self, hcl: impl Into<String>) -> Self {
        self.config = Some(hcl.into());
        self
    }

    /// Sets an environment variable for the plugin.
    pub fn env(
        mut self,
        key: impl Into<std::ffi::OsString>,
        value: impl Into<std::ffi::OsString>,
    ) -> Self {
        self.launcher = self.launcher.env(key, value);
        self
    }

    /// Attaches to a plugin started by hand in attach mode
    /// (`NOMAD_PLUGIN_ATTACH=1`) instead of launching the binary.
    pub fn attach(mut self, endpoint: crate::launch::Endpoint, pid: u32) -> Self {
        self.launcher = self.launcher.attach_to(endpoint, pid);
        self
    }

    /// The longest any one call waits; default 30 s.
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// Launches and configures the plugin (handshake, `PluginInfo`,
    /// `ConfigSchema`, the HCL decoded with that schema, `SetConfig`) and
    /// opens its fingerprint stream.
    pub async fn launch(self) -> Result<DeviceHarness, DeviceError> {
        let body = self.config.as_deref().map(super::config_body).transpose()?;
        let plugin = DevicePlugin::launch_with(self.launcher, body.as_deref()).await?;
        let mut client = plugin.client.clone();
        let fingerprints =
            StreamWatch::start(async move { client.fingerprint(pb::FingerprintRequest {}).await });
        Ok(DeviceHarness {
            plugin,
            fingerprints,
            patience: self.patience,
        })
    }
}

impl DeviceHarness {
    /// A builder for the plugin at `binary`, with no config block.
    pub fn builder(binary: impl Into<PathBuf>) -> DeviceHarnessBuilder {
        DeviceHarnessBuilder {
            launcher: Launcher::nomad(binary).null_stdin(),
            config: None,
            patience: Duration::from_secs(30),
        }
    }

    /// The plugin's name, as `PluginInfo` gave it.
    pub fn name(&self) -> &str {
        &self.plugin.info().name
    }

    /// The plugin's version, as `PluginInfo` gave it.
    pub fn version(&self) -> &str {
        &self.plugin.info().plugin_version
    }

    /// The plugin's stderr lines so far (its hclog output).
    pub fn plugin_logs(&self) -> Vec<StderrLine> {
        self.plugin.running().logs()
    }

    pub(crate) fn plugin(&self) -> &DevicePlugin {
        &self.plugin
    }

    /// The first fingerprint (waits for it), validated as Nomad validates
    /// it: the device groups the node will advertise.
    pub async fn fingerprint(&self) -> Result<Vec<DeviceGroup>, DeviceError> {
        self.fingerprint_at(0).await
    }

    /// The `n`th fingerprint message (0 is the first), waiting for it: a
    /// plugin resends its fingerprint when devices change.
    pub async fn fingerprint_at(&self, n: usize) -> Result<Vec<DeviceGroup>, DeviceError> {
        if !self.fingerprints.wait_count(n + 1, self.patience).await {
            return Err(match self.fingerprints.end() {
                Some((_, end)) => DeviceError::Protocol(format!(
                    "the fingerprint stream {end} after {} messages: Nomad gives up on a device plugin whose stream ends",
                    self.fingerprints.items().len()
                )),
                None => DeviceError::Timeout {
                    what: format!("fingerprint message {}", n + 1),
                    after: self.patience,
                },
            });
        }
        let items = self.fingerprints.items();
        let (_, msg) = items
            .get(n)
            .ok_or_else(|| DeviceError::Protocol("fingerprint message missing".into()))?;
        parse_groups(msg).map_err(DeviceError::Protocol)
    }

    /// How many fingerprint messages arrived so far.
    pub fn fingerprint_count(&self) -> usize {
        self.fingerprints.items().len()
    }

    /// `Reserve` for these instance ids, as the client does before a task
    /// that asked for devices starts.
    pub async fn reserve(&self, ids: &[String]) -> Result<ContainerReservation, DeviceError> {
        let resp = tokio::time::timeout(self.patience, self.plugin.reserve(ids))
            .await
            .map_err(|_| DeviceError::Timeout {
                what: "Reserve".into(),
                after: self.patience,
            })?
            .map_err(|status| DeviceError::Rpc {
                call: "Reserve",
                status,
            })?;
        let r = resp.container_res.ok_or_else(|| {
            DeviceError::Protocol(
                "Reserve returned no container_res: Nomad's client dereferences it and panics"
                    .into(),
            )
        })?;
        Ok(nomad_plugin_sdk::host::device::reservation_from_proto(&r))
    }

    /// Opens the `Stats` stream at `interval`.
    pub async fn stats(&self, interval: Duration) -> Result<DeviceStatsStream, DeviceError> {
        let stream = tokio::time::timeout(self.patience, self.plugin.stats(interval))
            .await
            .map_err(|_| DeviceError::Timeout {
                what: "Stats".into(),
                after: self.patience,
            })?
            .map_err(|status| DeviceError::Rpc {
                call: "Stats",
                status,
            })?;
        Ok(DeviceStatsStream {
            stream,
            patience: self.patience,
        })
    }

    /// The running plugin, its fingerprint stream closed: for the suite's
    /// agent-restart check, which plays the agent's death itself.
    pub(crate) fn into_plugin(self) -> DevicePlugin {
        drop(self.fingerprints);
        self.plugin
    }

    /// Stops the plugin as Nomad does; fails if it needed the SIGKILL.
    pub async fn shutdown(self) -> Result<(), DeviceError> {
        drop(self.fingerprints);
        let report = self.plugin.kill().await?;
        if !report.graceful {
            return Err(DeviceError::Protocol(format!(
                "the plugin did not exit within 2 s of Shutdown and was killed ({})",
                report.status
            )));
        }
        Ok(())
    }
}

/// A device `Stats` stream; see [`DeviceHarness::stats`].
pub struct DeviceStatsStream {
    stream: Streaming<pb::StatsResponse>,
    patience: Duration,
}

impl std::fmt::Debug for DeviceStatsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceStatsStream").finish_non_exhaustive()
    }
}

impl DeviceStatsStream {
    /// The next message: statistics per device group.
    pub async fn next(&mut self) -> Result<Vec<DeviceGroupStats>, DeviceError> {
        match tokio::time::timeout(self.patience, self.stream.message()).await {
            Err(_) => Err(DeviceError::Timeout {
                what: "the next Stats message".into(),
                after: self.patience,
            }),
            Ok(Err(status)) => Err(DeviceError::Rpc {
                call: "Stats",
                status,
            }),
            Ok(Ok(None)) => Err(DeviceError::Protocol(
                "the Stats stream ended: Nomad stops collecting device statistics".into(),
            )),
            Ok(Ok(Some(m))) => Ok(m
                .groups
                .iter()
                .map(nomad_plugin_sdk::host::device::stats_from_proto)
                .collect()),
        }
    }
}

//! The Identity service: every CSI plugin has one.

use async_trait::async_trait;

use super::error::CsiResult;
use super::types::PluginInfo;

/// Who the plugin is and whether it is ready.
///
/// `GetPluginCapabilities` is not here: the SDK answers it from the
/// services registered on [`CsiPlugin`](super::CsiPlugin), so the answer
/// always matches what the plugin serves.
#[async_trait]
pub trait Identity: Send + Sync + 'static {
    /// `GetPluginInfo`. Nomad calls it when it fingerprints the plugin and
    /// shows the name and version in `nomad plugin status`; an empty name
    /// makes Nomad reject the plugin (the SDK turns that into an `INTERNAL`
    /// error naming the mistake).
    async fn get_plugin_info(&self) -> CsiResult<PluginInfo>;

    /// `Probe`. Nomad probes once when the plugin task starts and then
    /// every few seconds; until a probe answers `true` within the task's
    /// `health_timeout` the plugin is not used, and a later failing probe
    /// marks it unhealthy. The default is always ready.
    async fn probe(&self) -> CsiResult<bool> {
        Ok(true)
    }
}

//! `BasePluginService`: what every autoscaler plugin answers, whatever its
//! kind.

use std::sync::Arc;

use async_trait::async_trait;
use nomad_plugin_proto::autoscaler::base as pb;

use super::config::ConfigMap;
use super::error::AutoscalerError;

/// What every autoscaler plugin implements besides its kind's trait
/// ([`Apm`](super::Apm), [`Strategy`](super::Strategy) or
/// [`Target`](super::Target)).
#[async_trait]
pub trait Base: Send + Sync + 'static {
    /// The plugin's name, sent in `PluginInfo` right after launch.
    ///
    /// The agent refuses a plugin whose name differs from the `driver` in
    /// its config block (`failed to dispense plugin <name>: plugin <name>
    /// remote info doesn't match local config`), and `driver` is the file
    /// name of the binary in the agent's `plugin_dir`. The default is
    /// therefore that file name, taken from how the agent started the
    /// process (`argv[0]`), so the check holds however the binary is named.
    /// Return a fixed name instead if the plugin must refuse to run under
    /// another one.
    fn name(&self) -> String {
        binary_name()
    }

    /// Receives the plugin's config block (`config = { ... }`) with the
    /// agent's `nomad_*` settings merged in (see
    /// [`config`](super::config)). The agent calls it once after launch,
    /// before any other call, and again when its configuration is reloaded
    /// (SIGHUP). An error makes the agent kill the plugin and fail to start
    /// (or fail the reload), showing the message. The default accepts any
    /// config and ignores it.
    async fn set_config(&self, config: ConfigMap) -> Result<(), AutoscalerError> {
        let _ = config;
        Ok(())
    }
}

/// The file name this process was started as (`argv[0]` without its
/// directory), which is the `driver` the agent configured.
pub fn binary_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "plugin".into())
}

/// The kind a plugin announces in `PluginInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Apm,
    Strategy,
    Target,
}

impl Kind {
    fn wire(self) -> pb::PluginType {
        match self {
            Kind::Apm => pb::PluginType::Apm,
            Kind::Strategy => pb::PluginType::Strategy,
            Kind::Target => pb::PluginType::Target,
        }
    }
}

/// Serves `BasePluginService` for a plugin of a given kind.
pub(crate) struct BaseService<P: ?Sized> {
    pub(crate) plugin: Arc<P>,
    pub(crate) kind: Kind,
}

#[tonic::async_trait]
impl<P: Base + ?Sized> pb::base_plugin_service_server::BasePluginService for BaseService<P> {
    async fn plugin_info(
        &self,
        _request: tonic::Request<pb::PluginInfoRequest>,
    ) -> Result<tonic::Response<pb::PluginInfoResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::PluginInfoResponse {
            name: self.plugin.name(),
            r#type: self.kind.wire() as i32,
        }))
    }

    async fn set_config(
        &self,
        request: tonic::Request<pb::SetConfigRequest>,
    ) -> Result<tonic::Response<pb::SetConfigResponse>, tonic::Status> {
        let config = ConfigMap::from(request.into_inner().config);
        tracing::debug!(keys = ?config.iter().map(|(k, _)| k).collect::<Vec<_>>(), "SetConfig");
        match self.plugin.set_config(config).await {
            Ok(()) => Ok(tonic::Response::new(pb::SetConfigResponse {})),
            Err(e) => {
                tracing::error!(error = %e, "SetConfig failed; the agent will stop this plugin");
                Err(e.into())
            }
        }
    }
}

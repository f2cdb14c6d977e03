//! Target plugins: read and change the size of something.

use std::sync::Arc;

use async_trait::async_trait;
use nomad_plugin_proto::autoscaler::target as pb;

use super::base::Base;
use super::config::ConfigMap;
use super::error::AutoscalerError;
use super::types::{ScalingAction, TargetStatus};
use super::wire;

/// A scalable resource for the Nomad Autoscaler (a `target "<name>"` block
/// in the agent config, referenced by a policy's `target` block).
#[async_trait]
pub trait Target: Base {
    /// Applies `action` to the target the policy's `config` names.
    ///
    /// The agent calls it when a policy evaluation decided to change the
    /// count, with the count already capped to the policy's `min`/`max`.
    /// On success the policy enters its cooldown. Return
    /// [`AutoscalerError::NoOp`] (gRPC `ABORTED`) when nothing had to
    /// change: the agent then skips the cooldown. Check
    /// [`ScalingAction::is_dry_run`] and change nothing for a dry run.
    /// Any other error is logged and the policy goes back to idle.
    async fn scale(&self, action: ScalingAction, config: ConfigMap) -> Result<(), AutoscalerError>;

    /// Reports the state of the target the policy's `config` names.
    ///
    /// The agent calls it at every evaluation before anything else, and
    /// waits at most `config.grpc_timeout()` for the answer. When `ready` is
    /// false the evaluation is skipped; `count` is what the strategy starts
    /// from. An error is logged and the evaluation is skipped.
    async fn status(&self, config: ConfigMap) -> Result<TargetStatus, AutoscalerError>;
}

/// Serves `TargetPluginService` over a [`Target`].
pub(crate) struct TargetService<P: ?Sized> {
    pub(crate) plugin: Arc<P>,
}

#[tonic::async_trait]
impl<P: Target + ?Sized> pb::target_plugin_service_server::TargetPluginService
    for TargetService<P>
{
    async fn scale(
        &self,
        request: tonic::Request<pb::ScaleRequest>,
    ) -> Result<tonic::Response<pb::ScaleResponse>, tonic::Status> {
        let req = request.into_inner();
        let action = wire::action_from_wire(req.action.as_ref())?;
        match self.plugin.scale(action, ConfigMap::from(req.config)).await {
            Ok(()) => Ok(tonic::Response::new(pb::ScaleResponse {})),
            Err(e) => {
                tracing::debug!(error = %e, "scale did not happen");
                Err(e.into())
            }
        }
    }

    async fn status(
        &self,
        request: tonic::Request<pb::StatusRequest>,
    ) -> Result<tonic::Response<pb::StatusResponse>, tonic::Status> {
        let config = ConfigMap::from(request.into_inner().config);
        let status = self.plugin.status(config).await.map_err(|e| {
            tracing::debug!(error = %e, "status failed");
            tonic::Status::from(e)
        })?;
        Ok(tonic::Response::new(pb::StatusResponse {
            ready: status.ready,
            count: status.count,
            meta: status.meta,
        }))
    }
}

/// Runs `plugin` as an autoscaler target plugin until the agent stops it:
/// the one line of the plugin's `main`.
///
/// Checks the autoscaler's magic cookie (a binary started by hand prints
/// go-plugin's "This binary is a plugin" message and returns status 1),
/// logs through `tracing` as go-hclog JSON under the plugin's name, and
/// serves. Returns status 1 if serving fails.
pub fn serve<P: Target>(plugin: P) -> std::process::ExitCode {
    let name = plugin.name();
    let plugin = Arc::new(plugin);
    super::run(&name, move || routes(plugin))
}

/// A target plugin's gRPC services (`BasePluginService` announcing a
/// target plugin, and `TargetPluginService`), for embedding in a test with
/// [`runtime::serve`](crate::runtime::serve).
pub fn routes<P: Target>(plugin: Arc<P>) -> tonic::service::Routes {
    super::base_routes(plugin.clone(), super::base::Kind::Target).add_service(
        crate::runtime::limit_message_size!(
            pb::target_plugin_service_server::TargetPluginServiceServer::new(TargetService {
                plugin
            })
        ),
    )
}

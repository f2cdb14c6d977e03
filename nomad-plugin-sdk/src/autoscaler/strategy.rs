//! Strategy plugins: turn metrics into a scaling decision.

use std::sync::Arc;

use async_trait::async_trait;
use nomad_plugin_proto::autoscaler::strategy as pb;

use super::base::Base;
use super::error::AutoscalerError;
use super::types::{ScalingAction, ScalingCheckEvaluation};
use super::wire;

/// A scaling strategy for the Nomad Autoscaler (a `strategy "<name>"` block
/// in the agent config, referenced by a policy check's `strategy` block).
#[async_trait]
pub trait Strategy: Base {
    /// Decides what to do for one policy check.
    ///
    /// The agent calls it at each evaluation, after the APM query, with
    /// the check (including the policy's strategy settings in
    /// `eval.check.strategy.config`), the samples (sorted, never empty) and
    /// the target's current `count`. The agent then caps the action's count
    /// to the policy's `min` and `max`, picks one action among the policy's
    /// checks (the safest: up wins over none over down), and asks the
    /// target to scale unless the direction is
    /// [`None`](super::ScalingDirection::None) or the count is unchanged.
    /// An error skips the check (or fails the evaluation with
    /// `on_error = "fail"`).
    ///
    /// The returned direction must agree with the count: `Up` above
    /// `count`, `Down` below it. The SDK's direction type has no
    /// "unspecified" value, which the agent refuses.
    async fn run(
        &self,
        eval: ScalingCheckEvaluation,
        count: i64,
    ) -> Result<ScalingAction, AutoscalerError>;
}

/// Serves `StrategyPluginService` over a [`Strategy`].
pub(crate) struct StrategyService<P: ?Sized> {
    pub(crate) plugin: Arc<P>,
}

#[tonic::async_trait]
impl<P: Strategy + ?Sized> pb::strategy_plugin_service_server::StrategyPluginService
    for StrategyService<P>
{
    async fn run(
        &self,
        request: tonic::Request<pb::RunRequest>,
    ) -> Result<tonic::Response<pb::RunResponse>, tonic::Status> {
        let req = request.into_inner();
        let eval = ScalingCheckEvaluation {
            check: wire::check_from_wire(req.check.as_ref()),
            metrics: wire::metrics_from_wire(&req.timestamped_metric),
        };
        let action = self.plugin.run(eval, req.count).await.map_err(|e| {
            tracing::debug!(error = %e, "strategy run failed");
            tonic::Status::from(e)
        })?;
        // As upstream does, the check and metrics go back unchanged.
        Ok(tonic::Response::new(pb::RunResponse {
            action: Some(wire::action_to_wire(&action)),
            check: req.check,
            timestamped_metric: req.timestamped_metric,
        }))
    }
}

/// Runs `plugin` as an autoscaler strategy plugin until the agent stops it:
/// the one line of the plugin's `main`.
///
/// Checks the autoscaler's magic cookie (a binary started by hand prints
/// go-plugin's "This binary is a plugin" message and returns status 1),
/// logs through `tracing` as go-hclog JSON under the plugin's name, and
/// serves. Returns status 1 if serving fails.
pub fn serve<P: Strategy>(plugin: P) -> std::process::ExitCode {
    let name = plugin.name();
    let plugin = Arc::new(plugin);
    super::run(&name, move || routes(plugin))
}

/// A strategy plugin's gRPC services (`BasePluginService` announcing a
/// strategy plugin, and `StrategyPluginService`), for embedding in a test with
/// [`runtime::serve`](crate::runtime::serve).
pub fn routes<P: Strategy>(plugin: Arc<P>) -> tonic::service::Routes {
    super::base_routes(plugin.clone(), super::base::Kind::Strategy).add_service(
        crate::runtime::limit_message_size!(
            pb::strategy_plugin_service_server::StrategyPluginServiceServer::new(StrategyService {
                plugin
            })
        ),
    )
}

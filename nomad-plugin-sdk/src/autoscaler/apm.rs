//! APM plugins: the agent's source of metrics.

use std::sync::Arc;

use async_trait::async_trait;
use nomad_plugin_proto::autoscaler::apm as pb;

use super::base::Base;
use super::error::AutoscalerError;
use super::types::{TimeRange, TimestampedMetric};
use super::wire;

/// A metrics source for the Nomad Autoscaler (an `apm "<name>"` block in the
/// agent config, referenced by a policy check's `source`).
///
/// ```
/// use nomad_plugin_sdk::autoscaler::prelude::*;
///
/// struct Constant;
///
/// #[async_trait]
/// impl Base for Constant {}
///
/// #[async_trait]
/// impl Apm for Constant {
///     async fn query(&self, query: &str, range: TimeRange)
///         -> Result<Vec<TimestampedMetric>, AutoscalerError>
///     {
///         let value: f64 = query
///             .parse()
///             .map_err(|_| AutoscalerError::query(query, "expected a number"))?;
///         Ok(vec![TimestampedMetric::new(range.to, value)])
///     }
/// }
/// ```
#[async_trait]
pub trait Apm: Base {
    /// Runs `query` over `range` and returns one series of samples.
    ///
    /// The agent calls it at each evaluation of every policy check whose
    /// `source` is this plugin, with `range` ending now and as long as the
    /// check's `query_window` (one minute by default). Return the samples
    /// whose timestamps lie in `range`, oldest first. The agent sorts them,
    /// and a strategy such as `target-value` uses the newest one; an empty
    /// series makes the agent skip the check ("no metrics"). An error is
    /// logged by the agent and the check is skipped, or the evaluation
    /// fails when the check says `on_error = "fail"`.
    async fn query(
        &self,
        query: &str,
        range: TimeRange,
    ) -> Result<Vec<TimestampedMetric>, AutoscalerError>;

    /// Runs a query that may yield several series. Only Dynamic Application
    /// Sizing (Nomad Enterprise) calls it. The default answers the one
    /// series [`query`](Apm::query) returns.
    async fn query_multiple(
        &self,
        query: &str,
        range: TimeRange,
    ) -> Result<Vec<Vec<TimestampedMetric>>, AutoscalerError> {
        Ok(vec![self.query(query, range).await?])
    }
}

/// Serves `APMPluginService` over an [`Apm`].
pub(crate) struct ApmService<P: ?Sized> {
    pub(crate) plugin: Arc<P>,
}

#[tonic::async_trait]
impl<P: Apm + ?Sized> pb::apm_plugin_service_server::ApmPluginService for ApmService<P> {
    async fn query(
        &self,
        request: tonic::Request<pb::QueryRequest>,
    ) -> Result<tonic::Response<pb::QueryResponse>, tonic::Status> {
        let req = request.into_inner();
        let range = wire::range_from_wire(req.time_range.as_ref());
        let points = self.plugin.query(&req.query, range).await.map_err(|e| {
            tracing::debug!(query = %req.query, error = %e, "query failed");
            tonic::Status::from(e)
        })?;
        Ok(tonic::Response::new(pb::QueryResponse {
            timestamped_metric: wire::metrics_to_wire(&points),
        }))
    }

    async fn query_multiple(
        &self,
        request: tonic::Request<pb::QueryMultipleRequest>,
    ) -> Result<tonic::Response<pb::QueryMultipleResponse>, tonic::Status> {
        let req = request.into_inner();
        let range = wire::range_from_wire(req.time_range.as_ref());
        let series = self
            .plugin
            .query_multiple(&req.query, range)
            .await
            .map_err(|e| {
                tracing::debug!(query = %req.query, error = %e, "query_multiple failed");
                tonic::Status::from(e)
            })?;
        Ok(tonic::Response::new(pb::QueryMultipleResponse {
            timestamped_metric: series
                .iter()
                .map(|s| pb::QueryResponse {
                    timestamped_metric: wire::metrics_to_wire(s),
                })
                .collect(),
        }))
    }
}

/// Runs `plugin` as an autoscaler apm plugin until the agent stops it:
/// the one line of the plugin's `main`.
///
/// Checks the autoscaler's magic cookie (a binary started by hand prints
/// go-plugin's "This binary is a plugin" message and returns status 1),
/// logs through `tracing` as go-hclog JSON under the plugin's name, and
/// serves. Returns status 1 if serving fails.
pub fn serve<P: Apm>(plugin: P) -> std::process::ExitCode {
    let name = plugin.name();
    let plugin = Arc::new(plugin);
    super::run(&name, move || routes(plugin))
}

/// An APM plugin's gRPC services (`BasePluginService` announcing an APM
/// plugin, and `APMPluginService`), for embedding in a test with
/// [`runtime::serve`](crate::runtime::serve).
pub fn routes<P: Apm>(plugin: Arc<P>) -> tonic::service::Routes {
    super::base_routes(plugin.clone(), super::base::Kind::Apm).add_service(
        crate::runtime::limit_message_size!(
            pb::apm_plugin_service_server::ApmPluginServiceServer::new(ApmService { plugin })
        ),
    )
}

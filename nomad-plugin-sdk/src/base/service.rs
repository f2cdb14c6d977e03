//! The `hashicorp.nomad.plugins.base.proto.BasePlugin` service over a
//! [`BasePlugin`](super::BasePlugin).

use std::sync::Arc;

use nomad_plugin_proto::nomad::base as pb;
use nomad_plugin_proto::nomad::base::base_plugin_server::BasePlugin as BasePluginRpc;
use tonic::{Request, Response, Status};

use super::{AgentConfig, BasePlugin, PluginConfig, PluginKind};
use crate::PluginError;

/// Serves `BasePlugin` for any plugin kind.
pub(crate) struct BaseService<P> {
    plugin: Arc<P>,
    kind: PluginKind,
}

/// The start of every Nomad plugin's service set: `BasePlugin` over
/// `plugin`. Kind modules add their own service and hand the routes to
/// [`crate::runtime::run`]. `kind` is the kind's own: the plugin does not
/// choose it.
pub(crate) fn base_routes<P: BasePlugin>(
    plugin: Arc<P>,
    kind: PluginKind,
) -> tonic::service::RoutesBuilder {
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(crate::runtime::limit_message_size!(
        pb::base_plugin_server::BasePluginServer::new(BaseService { plugin, kind })
    ));
    routes
}

#[tonic::async_trait]
impl<P: BasePlugin> BasePluginRpc for BaseService<P> {
    async fn plugin_info(
        &self,
        _request: Request<pb::PluginInfoRequest>,
    ) -> Result<Response<pb::PluginInfoResponse>, Status> {
        let info = self.plugin.info();
        Ok(Response::new(pb::PluginInfoResponse {
            r#type: match self.kind {
                PluginKind::Driver => pb::PluginType::Driver as i32,
                PluginKind::Device => pb::PluginType::Device as i32,
            },
            plugin_api_versions: info.api_versions,
            plugin_version: info.version,
            name: info.name,
        }))
    }

    async fn config_schema(
        &self,
        _request: Request<pb::ConfigSchemaRequest>,
    ) -> Result<Response<pb::ConfigSchemaResponse>, Status> {
        Ok(Response::new(pb::ConfigSchemaResponse {
            spec: <P::Config as PluginConfig>::schema().map(|s| s.to_proto()),
        }))
    }

    async fn set_config(
        &self,
        request: Request<pb::SetConfigRequest>,
    ) -> Result<Response<pb::SetConfigResponse>, Status> {
        let req = request.into_inner();
        let config = <P::Config as PluginConfig>::decode(&req.msgpack_config).map_err(|e| {
            tracing::warn!(error = %e, "SetConfig: the agent configuration does not decode");
            Status::from(PluginError::from(e))
        })?;
        let agent = AgentConfig::from_proto(req.plugin_api_version, req.nomad_config.as_ref());
        self.plugin.set_config(config, agent).await.map_err(|e| {
            tracing::warn!(error = %e, "SetConfig failed");
            Status::from(e)
        })?;
        Ok(Response::new(pb::SetConfigResponse {}))
    }
}

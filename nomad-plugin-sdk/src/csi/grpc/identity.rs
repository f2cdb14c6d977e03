//! The `Identity` service: plugin info, capabilities, probe.

use super::*;

#[tonic::async_trait]
impl pb::identity_server::Identity for IdentityGrpc {
    async fn get_plugin_info(
        &self,
        _: Request<pb::GetPluginInfoRequest>,
    ) -> Result<Response<pb::GetPluginInfoResponse>, Status> {
        call("GetPluginInfo", async {
            let info = self.0.identity.get_plugin_info().await?;
            if info.name.is_empty() {
                return Err(CsiError::Internal(
                    "the plugin returned an empty name from GetPluginInfo; Nomad refuses such a plugin".into(),
                ));
            }
            Ok(pb::GetPluginInfoResponse {
                name: info.name,
                vendor_version: info.vendor_version,
                manifest: map_out(info.manifest),
            })
        })
        .await
    }

    async fn get_plugin_capabilities(
        &self,
        _: Request<pb::GetPluginCapabilitiesRequest>,
    ) -> Result<Response<pb::GetPluginCapabilitiesResponse>, Status> {
        use pb::plugin_capability::{service, volume_expansion, Service, Type, VolumeExpansion};
        call("GetPluginCapabilities", async {
            let capabilities = self
                .0
                .capabilities()
                .into_iter()
                .map(|c| pb::PluginCapability {
                    r#type: Some(match c {
                        PluginCapability::ControllerService => Type::Service(Service {
                            r#type: service::Type::ControllerService as i32,
                        }),
                        PluginCapability::VolumeAccessibilityConstraints => {
                            Type::Service(Service {
                                r#type: service::Type::VolumeAccessibilityConstraints as i32,
                            })
                        }
                        PluginCapability::VolumeExpansion(mode) => {
                            Type::VolumeExpansion(VolumeExpansion {
                                r#type: match mode {
                                    ExpansionMode::Online => volume_expansion::Type::Online,
                                    ExpansionMode::Offline => volume_expansion::Type::Offline,
                                } as i32,
                            })
                        }
                    }),
                })
                .collect();
            Ok(pb::GetPluginCapabilitiesResponse { capabilities })
        })
        .await
    }

    async fn probe(
        &self,
        _: Request<pb::ProbeRequest>,
    ) -> Result<Response<pb::ProbeResponse>, Status> {
        call("Probe", async {
            let ready = self.0.identity.probe().await?;
            Ok(pb::ProbeResponse { ready: Some(ready) })
        })
        .await
    }
}

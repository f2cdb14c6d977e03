//! The gRPC face of a [`CsiPlugin`]: converts wire requests into validated
//! Rust requests, calls the plugin, converts the answer back, and enforces
//! what the registered capabilities promise.

use std::future::Future;
use std::sync::Arc;

use nomad_plugin_proto::csi as pb;
use tonic::{Request, Response, Status};

use super::error::{CsiError, CsiResult};
use super::pagination::PageRequest;
use super::plugin::{
    ControllerCapability, ControllerService, CsiPlugin, ExpansionMode, NodeCapability, NodeService,
    PluginCapability,
};
use super::requests::*;
use super::types::{
    bytes_out, map_out, ContentSource, Secrets, Validation, VolumeCapability, VolumeEntry,
};

/// Runs one RPC: logs a failure, and turns the plugin's error into the status
/// Nomad sees.
async fn call<T>(
    rpc: &'static str,
    fut: impl Future<Output = CsiResult<T>>,
) -> Result<Response<T>, Status> {
    match fut.await {
        Ok(v) => Ok(Response::new(v)),
        Err(e) => {
            match e {
                CsiError::Internal(_) | CsiError::Unavailable(_) => {
                    tracing::error!(rpc, code = ?e.code(), error = %e.message(), "CSI call failed")
                }
                _ => {
                    tracing::info!(rpc, code = ?e.code(), error = %e.message(), "CSI call refused")
                }
            }
            Err(e.into())
        }
    }
}

fn unimplemented<T>(rpc: &str) -> CsiResult<T> {
    Err(CsiError::unimplemented(rpc))
}

/// Access modes the plugin did not opt into are invalid arguments.
fn check_modes<'a>(
    caps: impl IntoIterator<Item = &'a VolumeCapability>,
    single_node_multi_writer: bool,
) -> CsiResult<()> {
    for c in caps {
        if c.access_mode.needs_single_node_multi_writer() && !single_node_multi_writer {
            return Err(CsiError::InvalidArgument(format!(
                "access mode {:?} needs the SINGLE_NODE_MULTI_WRITER capability, which this plugin does not have",
                c.access_mode
            )));
        }
    }
    Ok(())
}

pub(crate) struct IdentityGrpc(pub(crate) Arc<CsiPlugin>);
pub(crate) struct ControllerGrpc(pub(crate) Arc<CsiPlugin>);
pub(crate) struct NodeGrpc(pub(crate) Arc<CsiPlugin>);

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

impl ControllerGrpc {
    fn svc(&self) -> CsiResult<&ControllerService> {
        self.0
            .controller
            .as_ref()
            .ok_or_else(|| CsiError::unimplemented("the Controller service"))
    }
}

fn entry_out(
    e: VolumeEntry,
    svc: &ControllerService,
) -> (pb::Volume, Vec<String>, Option<pb::VolumeCondition>) {
    let nodes = if svc.has(ControllerCapability::ListVolumesPublishedNodes) {
        e.published_node_ids
    } else {
        Vec::new()
    };
    let condition = if svc.has(ControllerCapability::VolumeCondition) {
        e.condition.map(|c| c.to_wire())
    } else {
        None
    };
    (e.volume.to_wire(), nodes, condition)
}

#[tonic::async_trait]
impl pb::controller_server::Controller for ControllerGrpc {
    async fn create_volume(
        &self,
        request: Request<pb::CreateVolumeRequest>,
    ) -> Result<Response<pb::CreateVolumeResponse>, Status> {
        call("CreateVolume", async {
            let svc = self.svc()?;
            let Some(p) = &svc.create_delete else {
                return unimplemented("CreateVolume");
            };
            let req = CreateVolumeRequest::from_wire(request.into_inner())?;
            check_modes(
                &req.volume_capabilities,
                svc.has(ControllerCapability::SingleNodeMultiWriter),
            )?;
            match &req.content_source {
                Some(ContentSource::Snapshot(_)) if svc.snapshots.is_none() => {
                    return Err(CsiError::InvalidArgument(
                        "this plugin cannot create volumes from snapshots (no CREATE_DELETE_SNAPSHOT)".into(),
                    ))
                }
                Some(ContentSource::Volume(_)) if !svc.has(ControllerCapability::CloneVolume) => {
                    return Err(CsiError::InvalidArgument(
                        "this plugin cannot clone volumes (no CLONE_VOLUME)".into(),
                    ))
                }
                _ => {}
            }
            let volume = p.create_volume(req).await?;
            if volume.volume_id.is_empty() {
                return Err(CsiError::Internal(
                    "the plugin created a volume with an empty volume_id".into(),
                ));
            }
            Ok(pb::CreateVolumeResponse {
                volume: Some(volume.to_wire()),
            })
        })
        .await
    }

    async fn delete_volume(
        &self,
        request: Request<pb::DeleteVolumeRequest>,
    ) -> Result<Response<pb::DeleteVolumeResponse>, Status> {
        call("DeleteVolume", async {
            let Some(p) = &self.svc()?.create_delete else {
                return unimplemented("DeleteVolume");
            };
            p.delete_volume(DeleteVolumeRequest::from_wire(request.into_inner())?)
                .await?;
            Ok(pb::DeleteVolumeResponse {})
        })
        .await
    }

    async fn controller_publish_volume(
        &self,
        request: Request<pb::ControllerPublishVolumeRequest>,
    ) -> Result<Response<pb::ControllerPublishVolumeResponse>, Status> {
        call("ControllerPublishVolume", async {
            let svc = self.svc()?;
            let Some(p) = &svc.publish else {
                return unimplemented("ControllerPublishVolume");
            };
            let req = ControllerPublishVolumeRequest::from_wire(request.into_inner())?;
            check_modes(
                [&req.volume_capability],
                svc.has(ControllerCapability::SingleNodeMultiWriter),
            )?;
            let context = p.controller_publish_volume(req).await?;
            Ok(pb::ControllerPublishVolumeResponse {
                publish_context: map_out(context),
            })
        })
        .await
    }

    async fn controller_unpublish_volume(
        &self,
        request: Request<pb::ControllerUnpublishVolumeRequest>,
    ) -> Result<Response<pb::ControllerUnpublishVolumeResponse>, Status> {
        call("ControllerUnpublishVolume", async {
            let Some(p) = &self.svc()?.publish else {
                return unimplemented("ControllerUnpublishVolume");
            };
            p.controller_unpublish_volume(ControllerUnpublishVolumeRequest::from_wire(
                request.into_inner(),
            )?)
            .await?;
            Ok(pb::ControllerUnpublishVolumeResponse {})
        })
        .await
    }

    async fn validate_volume_capabilities(
        &self,
        request: Request<pb::ValidateVolumeCapabilitiesRequest>,
    ) -> Result<Response<pb::ValidateVolumeCapabilitiesResponse>, Status> {
        use pb::validate_volume_capabilities_response::Confirmed;
        call("ValidateVolumeCapabilities", async {
            let svc = self.svc()?;
            let req = ValidateVolumeCapabilitiesRequest::from_wire(request.into_inner())?;
            let snmw = svc.has(ControllerCapability::SingleNodeMultiWriter);
            let validation = if let Err(e) = check_modes(&req.volume_capabilities, snmw) {
                // Still look the volume up, so an unknown one is NOT_FOUND.
                svc.base.validate_volume_capabilities(req).await?;
                Validation::Unconfirmed(e.message().to_string())
            } else {
                svc.base.validate_volume_capabilities(req).await?
            };
            Ok(match validation {
                Validation::Confirmed {
                    capabilities,
                    volume_context,
                    parameters,
                    mutable_parameters,
                } => pb::ValidateVolumeCapabilitiesResponse {
                    confirmed: Some(Confirmed {
                        volume_context: map_out(volume_context),
                        volume_capabilities: capabilities.iter().map(|c| c.to_wire()).collect(),
                        parameters: map_out(parameters),
                        mutable_parameters: map_out(mutable_parameters),
                    }),
                    message: String::new(),
                },
                Validation::Unconfirmed(message) => pb::ValidateVolumeCapabilitiesResponse {
                    confirmed: None,
                    message,
                },
            })
        })
        .await
    }

    async fn list_volumes(
        &self,
        request: Request<pb::ListVolumesRequest>,
    ) -> Result<Response<pb::ListVolumesResponse>, Status> {
        use pb::list_volumes_response::{Entry, VolumeStatus};
        call("ListVolumes", async {
            let svc = self.svc()?;
            let Some(p) = &svc.list_volumes else {
                return unimplemented("ListVolumes");
            };
            let r = request.into_inner();
            let page = p
                .list_volumes(PageRequest::from_wire(r.max_entries, r.starting_token)?)
                .await?;
            let entries = page
                .entries
                .into_iter()
                .map(|e| {
                    let (volume, published_node_ids, volume_condition) = entry_out(e, svc);
                    Entry {
                        volume: Some(volume),
                        status: Some(VolumeStatus {
                            published_node_ids,
                            volume_condition,
                        }),
                    }
                })
                .collect();
            Ok(pb::ListVolumesResponse {
                entries,
                next_token: page.next_token.unwrap_or_default(),
            })
        })
        .await
    }

    async fn get_capacity(
        &self,
        request: Request<pb::GetCapacityRequest>,
    ) -> Result<Response<pb::GetCapacityResponse>, Status> {
        call("GetCapacity", async {
            let Some(p) = &self.svc()?.get_capacity else {
                return unimplemented("GetCapacity");
            };
            let c = p
                .get_capacity(GetCapacityRequest::from_wire(request.into_inner())?)
                .await?;
            Ok(pb::GetCapacityResponse {
                available_capacity: bytes_out(c.available_capacity),
                maximum_volume_size: c.maximum_volume_size.map(bytes_out),
                minimum_volume_size: c.minimum_volume_size.map(bytes_out),
            })
        })
        .await
    }

    async fn controller_get_capabilities(
        &self,
        _: Request<pb::ControllerGetCapabilitiesRequest>,
    ) -> Result<Response<pb::ControllerGetCapabilitiesResponse>, Status> {
        use pb::controller_service_capability::{rpc::Type as T, Rpc, Type};
        call("ControllerGetCapabilities", async {
            let capabilities = self
                .svc()?
                .capabilities()
                .into_iter()
                .map(|c| {
                    let t = match c {
                        ControllerCapability::CreateDeleteVolume => T::CreateDeleteVolume,
                        ControllerCapability::PublishUnpublishVolume => T::PublishUnpublishVolume,
                        ControllerCapability::ListVolumes => T::ListVolumes,
                        ControllerCapability::GetCapacity => T::GetCapacity,
                        ControllerCapability::CreateDeleteSnapshot => T::CreateDeleteSnapshot,
                        ControllerCapability::ListSnapshots => T::ListSnapshots,
                        ControllerCapability::CloneVolume => T::CloneVolume,
                        ControllerCapability::PublishReadonly => T::PublishReadonly,
                        ControllerCapability::ExpandVolume => T::ExpandVolume,
                        ControllerCapability::ListVolumesPublishedNodes => {
                            T::ListVolumesPublishedNodes
                        }
                        ControllerCapability::VolumeCondition => T::VolumeCondition,
                        ControllerCapability::GetVolume => T::GetVolume,
                        ControllerCapability::SingleNodeMultiWriter => T::SingleNodeMultiWriter,
                        ControllerCapability::ModifyVolume => T::ModifyVolume,
                        ControllerCapability::GetSnapshot => T::GetSnapshot,
                    };
                    pb::ControllerServiceCapability {
                        r#type: Some(Type::Rpc(Rpc { r#type: t as i32 })),
                    }
                })
                .collect();
            Ok(pb::ControllerGetCapabilitiesResponse { capabilities })
        })
        .await
    }

    async fn create_snapshot(
        &self,
        request: Request<pb::CreateSnapshotRequest>,
    ) -> Result<Response<pb::CreateSnapshotResponse>, Status> {
        call("CreateSnapshot", async {
            let Some(p) = &self.svc()?.snapshots else {
                return unimplemented("CreateSnapshot");
            };
            let s = p
                .create_snapshot(CreateSnapshotRequest::from_wire(request.into_inner())?)
                .await?;
            Ok(pb::CreateSnapshotResponse {
                snapshot: Some(s.to_wire()),
            })
        })
        .await
    }

    async fn delete_snapshot(
        &self,
        request: Request<pb::DeleteSnapshotRequest>,
    ) -> Result<Response<pb::DeleteSnapshotResponse>, Status> {
        call("DeleteSnapshot", async {
            let Some(p) = &self.svc()?.snapshots else {
                return unimplemented("DeleteSnapshot");
            };
            let r = request.into_inner();
            if r.snapshot_id.is_empty() {
                return Err(CsiError::missing("snapshot_id"));
            }
            p.delete_snapshot(r.snapshot_id, Secrets::from_wire(r.secrets))
                .await?;
            Ok(pb::DeleteSnapshotResponse {})
        })
        .await
    }

    async fn list_snapshots(
        &self,
        request: Request<pb::ListSnapshotsRequest>,
    ) -> Result<Response<pb::ListSnapshotsResponse>, Status> {
        call("ListSnapshots", async {
            let Some(p) = &self.svc()?.list_snapshots else {
                return unimplemented("ListSnapshots");
            };
            let page = p
                .list_snapshots(ListSnapshotsRequest::from_wire(request.into_inner())?)
                .await?;
            Ok(pb::ListSnapshotsResponse {
                entries: page
                    .entries
                    .iter()
                    .map(|s| pb::list_snapshots_response::Entry {
                        snapshot: Some(s.to_wire()),
                    })
                    .collect(),
                next_token: page.next_token.unwrap_or_default(),
            })
        })
        .await
    }

    async fn get_snapshot(
        &self,
        request: Request<pb::GetSnapshotRequest>,
    ) -> Result<Response<pb::GetSnapshotResponse>, Status> {
        call("GetSnapshot", async {
            let Some(p) = &self.svc()?.get_snapshot else {
                return unimplemented("GetSnapshot");
            };
            let r = request.into_inner();
            if r.snapshot_id.is_empty() {
                return Err(CsiError::missing("snapshot_id"));
            }
            let s = p
                .get_snapshot(r.snapshot_id, Secrets::from_wire(r.secrets))
                .await?;
            Ok(pb::GetSnapshotResponse {
                snapshot: Some(s.to_wire()),
            })
        })
        .await
    }

    async fn controller_expand_volume(
        &self,
        request: Request<pb::ControllerExpandVolumeRequest>,
    ) -> Result<Response<pb::ControllerExpandVolumeResponse>, Status> {
        call("ControllerExpandVolume", async {
            let Some((p, _)) = &self.svc()?.expand else {
                return unimplemented("ControllerExpandVolume");
            };
            let e = p
                .controller_expand_volume(ControllerExpandVolumeRequest::from_wire(
                    request.into_inner(),
                )?)
                .await?;
            Ok(pb::ControllerExpandVolumeResponse {
                capacity_bytes: bytes_out(e.capacity_bytes),
                node_expansion_required: e.node_expansion_required,
            })
        })
        .await
    }

    async fn controller_get_volume(
        &self,
        request: Request<pb::ControllerGetVolumeRequest>,
    ) -> Result<Response<pb::ControllerGetVolumeResponse>, Status> {
        call("ControllerGetVolume", async {
            let svc = self.svc()?;
            let Some(p) = &svc.get_volume else {
                return unimplemented("ControllerGetVolume");
            };
            let r = request.into_inner();
            if r.volume_id.is_empty() {
                return Err(CsiError::missing("volume_id"));
            }
            let (volume, published_node_ids, volume_condition) =
                entry_out(p.controller_get_volume(r.volume_id).await?, svc);
            Ok(pb::ControllerGetVolumeResponse {
                volume: Some(volume),
                status: Some(pb::controller_get_volume_response::VolumeStatus {
                    published_node_ids,
                    volume_condition,
                }),
            })
        })
        .await
    }

    async fn controller_modify_volume(
        &self,
        request: Request<pb::ControllerModifyVolumeRequest>,
    ) -> Result<Response<pb::ControllerModifyVolumeResponse>, Status> {
        call("ControllerModifyVolume", async {
            let Some(p) = &self.svc()?.modify else {
                return unimplemented("ControllerModifyVolume");
            };
            let r = request.into_inner();
            if r.volume_id.is_empty() {
                return Err(CsiError::missing("volume_id"));
            }
            p.controller_modify_volume(ControllerModifyVolumeRequest {
                volume_id: r.volume_id,
                secrets: Secrets::from_wire(r.secrets),
                mutable_parameters: super::types::map_in(r.mutable_parameters),
            })
            .await?;
            Ok(pb::ControllerModifyVolumeResponse {})
        })
        .await
    }
}

impl NodeGrpc {
    fn svc(&self) -> CsiResult<&NodeService> {
        self.0
            .node
            .as_ref()
            .ok_or_else(|| CsiError::unimplemented("the Node service"))
    }
}

#[tonic::async_trait]
impl pb::node_server::Node for NodeGrpc {
    async fn node_stage_volume(
        &self,
        request: Request<pb::NodeStageVolumeRequest>,
    ) -> Result<Response<pb::NodeStageVolumeResponse>, Status> {
        call("NodeStageVolume", async {
            let svc = self.svc()?;
            let Some(p) = &svc.stage else {
                return unimplemented("NodeStageVolume");
            };
            let req = NodeStageVolumeRequest::from_wire(request.into_inner())?;
            check_modes(
                [&req.volume_capability],
                svc.has(NodeCapability::SingleNodeMultiWriter),
            )?;
            p.node_stage_volume(req).await?;
            Ok(pb::NodeStageVolumeResponse {})
        })
        .await
    }

    async fn node_unstage_volume(
        &self,
        request: Request<pb::NodeUnstageVolumeRequest>,
    ) -> Result<Response<pb::NodeUnstageVolumeResponse>, Status> {
        call("NodeUnstageVolume", async {
            let Some(p) = &self.svc()?.stage else {
                return unimplemented("NodeUnstageVolume");
            };
            p.node_unstage_volume(NodeUnstageVolumeRequest::from_wire(request.into_inner())?)
                .await?;
            Ok(pb::NodeUnstageVolumeResponse {})
        })
        .await
    }

    async fn node_publish_volume(
        &self,
        request: Request<pb::NodePublishVolumeRequest>,
    ) -> Result<Response<pb::NodePublishVolumeResponse>, Status> {
        call("NodePublishVolume", async {
            let svc = self.svc()?;
            let req =
                NodePublishVolumeRequest::from_wire(request.into_inner(), svc.stage.is_some())?;
            check_modes(
                [&req.volume_capability],
                svc.has(NodeCapability::SingleNodeMultiWriter),
            )?;
            svc.base.node_publish_volume(req).await?;
            Ok(pb::NodePublishVolumeResponse {})
        })
        .await
    }

    async fn node_unpublish_volume(
        &self,
        request: Request<pb::NodeUnpublishVolumeRequest>,
    ) -> Result<Response<pb::NodeUnpublishVolumeResponse>, Status> {
        call("NodeUnpublishVolume", async {
            self.svc()?
                .base
                .node_unpublish_volume(NodeUnpublishVolumeRequest::from_wire(request.into_inner())?)
                .await?;
            Ok(pb::NodeUnpublishVolumeResponse {})
        })
        .await
    }

    async fn node_get_volume_stats(
        &self,
        request: Request<pb::NodeGetVolumeStatsRequest>,
    ) -> Result<Response<pb::NodeGetVolumeStatsResponse>, Status> {
        use super::types::UsageUnit;
        call("NodeGetVolumeStats", async {
            let svc = self.svc()?;
            let Some(p) = &svc.stats else {
                return unimplemented("NodeGetVolumeStats");
            };
            let stats = p
                .node_get_volume_stats(NodeGetVolumeStatsRequest::from_wire(request.into_inner())?)
                .await?;
            Ok(pb::NodeGetVolumeStatsResponse {
                usage: stats
                    .usage
                    .iter()
                    .map(|u| pb::VolumeUsage {
                        available: bytes_out(u.available),
                        total: bytes_out(u.total),
                        used: bytes_out(u.used),
                        unit: match u.unit {
                            UsageUnit::Bytes => pb::volume_usage::Unit::Bytes,
                            UsageUnit::Inodes => pb::volume_usage::Unit::Inodes,
                        } as i32,
                    })
                    .collect(),
                volume_condition: if svc.has(NodeCapability::VolumeCondition) {
                    stats.condition.map(|c| c.to_wire())
                } else {
                    None
                },
            })
        })
        .await
    }

    async fn node_expand_volume(
        &self,
        request: Request<pb::NodeExpandVolumeRequest>,
    ) -> Result<Response<pb::NodeExpandVolumeResponse>, Status> {
        call("NodeExpandVolume", async {
            let Some((p, _)) = &self.svc()?.expand else {
                return unimplemented("NodeExpandVolume");
            };
            let size = p
                .node_expand_volume(NodeExpandVolumeRequest::from_wire(request.into_inner())?)
                .await?;
            Ok(pb::NodeExpandVolumeResponse {
                capacity_bytes: bytes_out(size),
            })
        })
        .await
    }

    async fn node_get_capabilities(
        &self,
        _: Request<pb::NodeGetCapabilitiesRequest>,
    ) -> Result<Response<pb::NodeGetCapabilitiesResponse>, Status> {
        use pb::node_service_capability::{rpc::Type as T, Rpc, Type};
        call("NodeGetCapabilities", async {
            let capabilities = self
                .svc()?
                .capabilities()
                .into_iter()
                .map(|c| {
                    let t = match c {
                        NodeCapability::StageUnstageVolume => T::StageUnstageVolume,
                        NodeCapability::GetVolumeStats => T::GetVolumeStats,
                        NodeCapability::ExpandVolume => T::ExpandVolume,
                        NodeCapability::VolumeCondition => T::VolumeCondition,
                        NodeCapability::SingleNodeMultiWriter => T::SingleNodeMultiWriter,
                        NodeCapability::VolumeMountGroup => T::VolumeMountGroup,
                    };
                    pb::NodeServiceCapability {
                        r#type: Some(Type::Rpc(Rpc { r#type: t as i32 })),
                    }
                })
                .collect();
            Ok(pb::NodeGetCapabilitiesResponse { capabilities })
        })
        .await
    }

    async fn node_get_info(
        &self,
        _: Request<pb::NodeGetInfoRequest>,
    ) -> Result<Response<pb::NodeGetInfoResponse>, Status> {
        call("NodeGetInfo", async {
            let info = self.svc()?.base.node_get_info().await?;
            if info.node_id.is_empty() {
                return Err(CsiError::Internal(
                    "the plugin returned an empty node_id from NodeGetInfo; Nomad refuses such a node plugin".into(),
                ));
            }
            Ok(pb::NodeGetInfoResponse {
                node_id: info.node_id,
                max_volumes_per_node: bytes_out(info.max_volumes_per_node),
                accessible_topology: info.accessible_topology.map(|t| t.to_wire()),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csi::types::{AccessMode, Map, PluginInfo, Volume};
    use crate::csi::{
        Controller, ControllerService, CreateDeleteVolume, Identity, NodeInfo, NodeService,
    };
    use nomad_plugin_proto::csi::controller_server::Controller as _;
    use nomad_plugin_proto::csi::identity_server::Identity as _;
    use nomad_plugin_proto::csi::node_server::Node as _;

    struct Fake {
        node_id: &'static str,
    }

    #[async_trait::async_trait]
    impl Identity for Fake {
        async fn get_plugin_info(&self) -> CsiResult<PluginInfo> {
            Ok(PluginInfo {
                name: "fake".into(),
                ..Default::default()
            })
        }
    }

    #[async_trait::async_trait]
    impl Controller for Fake {
        async fn validate_volume_capabilities(
            &self,
            r: ValidateVolumeCapabilitiesRequest,
        ) -> CsiResult<Validation> {
            Ok(Validation::Confirmed {
                capabilities: r.volume_capabilities,
                volume_context: Map::new(),
                parameters: Map::new(),
                mutable_parameters: Map::new(),
            })
        }
    }

    #[async_trait::async_trait]
    impl CreateDeleteVolume for Fake {
        async fn create_volume(&self, r: CreateVolumeRequest) -> CsiResult<Volume> {
            Ok(Volume {
                volume_id: r.name,
                ..Default::default()
            })
        }
        async fn delete_volume(&self, _: DeleteVolumeRequest) -> CsiResult<()> {
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl crate::csi::Node for Fake {
        async fn node_get_info(&self) -> CsiResult<NodeInfo> {
            Ok(NodeInfo {
                node_id: self.node_id.into(),
                ..Default::default()
            })
        }
        async fn node_publish_volume(&self, _: NodePublishVolumeRequest) -> CsiResult<()> {
            Ok(())
        }
        async fn node_unpublish_volume(&self, _: NodeUnpublishVolumeRequest) -> CsiResult<()> {
            Ok(())
        }
    }

    fn plugin(ctrl: ControllerService, node_id: &'static str) -> Arc<CsiPlugin> {
        let f = Arc::new(Fake { node_id });
        Arc::new(
            CsiPlugin::new(f.clone())
                .controller(ctrl)
                .node(NodeService::builder(f).build()),
        )
    }

    fn cap(mode: AccessMode) -> pb::VolumeCapability {
        VolumeCapability::mount(mode).to_wire()
    }

    #[tokio::test]
    async fn advertised_capabilities_follow_registration() {
        let f = Arc::new(Fake { node_id: "n" });
        let bare = ControllerService::builder(f.clone()).build();
        assert!(bare.capabilities().is_empty());
        let cloning = ControllerService::builder(f).clone_volume().build();
        assert_eq!(
            cloning.capabilities().into_iter().collect::<Vec<_>>(),
            vec![
                ControllerCapability::CreateDeleteVolume,
                ControllerCapability::CloneVolume
            ]
        );
        let p = plugin(cloning, "n");
        let wire = ControllerGrpc(p.clone())
            .controller_get_capabilities(Request::new(Default::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(wire.capabilities.len(), 2);
        let plugin_caps = IdentityGrpc(p)
            .get_plugin_capabilities(Request::new(Default::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(plugin_caps.capabilities.len(), 1, "CONTROLLER_SERVICE only");
    }

    #[tokio::test]
    async fn unregistered_rpcs_are_unimplemented_and_flags_are_enforced() {
        let f = Arc::new(Fake { node_id: "n" });
        let p = plugin(
            ControllerService::builder(f).create_delete_volume().build(),
            "n",
        );
        let grpc = ControllerGrpc(p.clone());
        let err = grpc
            .list_volumes(Request::new(Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented);
        let clone_req = pb::CreateVolumeRequest {
            name: "v".into(),
            volume_capabilities: vec![cap(AccessMode::SingleNodeWriter)],
            volume_content_source: Some(ContentSource::Volume("src".into()).to_wire()),
            ..Default::default()
        };
        let err = grpc
            .create_volume(Request::new(clone_req))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let snmw = pb::CreateVolumeRequest {
            name: "v".into(),
            volume_capabilities: vec![cap(AccessMode::SingleNodeMultiWriter)],
            ..Default::default()
        };
        let err = grpc.create_volume(Request::new(snmw)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let ok = pb::CreateVolumeRequest {
            name: "v".into(),
            volume_capabilities: vec![cap(AccessMode::SingleNodeWriter)],
            ..Default::default()
        };
        let v = grpc
            .create_volume(Request::new(ok))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(v.volume.unwrap().volume_id, "v");
        // NodeStageVolume was not registered (no STAGE_UNSTAGE_VOLUME).
        let err = NodeGrpc(p)
            .node_stage_volume(Request::new(Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented);
    }

    #[tokio::test]
    async fn empty_node_id_is_reported_not_forwarded() {
        let f = Arc::new(Fake { node_id: "" });
        let p = plugin(ControllerService::builder(f).build(), "");
        let err = NodeGrpc(p)
            .node_get_info(Request::new(Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Internal);
        assert!(err.message().contains("empty node_id"));
    }
}

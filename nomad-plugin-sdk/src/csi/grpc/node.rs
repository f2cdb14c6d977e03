//! The `Node` service: staging, publishing, stats, expansion and node info.

use super::*;

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
        use crate::csi::types::UsageUnit;
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

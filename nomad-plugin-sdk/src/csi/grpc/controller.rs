//! The `Controller` service: each RPC looks up the registered capability,
//! validates the request, calls the plugin and converts its answer.

use super::*;

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
                mutable_parameters: crate::csi::types::map_in(r.mutable_parameters),
            })
            .await?;
            Ok(pb::ControllerModifyVolumeResponse {})
        })
        .await
    }
}

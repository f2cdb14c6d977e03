//! Required fields and advertised RPCs: an empty request must be refused
//! INVALID_ARGUMENT, never UNIMPLEMENTED.

use super::*;

impl Suite {
    /// Required fields, and that advertised RPCs are implemented: an empty
    /// request must be INVALID_ARGUMENT, never UNIMPLEMENTED.
    pub(super) async fn validation(&mut self, has_controller: bool, has_node: bool) {
        let t = self.o.call_timeout;
        let mut ctrl = self.c.controller.clone();
        let mut node = self.c.node.clone();
        if has_controller {
            self.expect_invalid(
                "validation.validate_capabilities_without_volume_id",
                timed(
                    t,
                    ctrl.validate_volume_capabilities(
                        pb::ValidateVolumeCapabilitiesRequest::default(),
                    ),
                )
                .await,
            );
            if self.ctrl.contains(&CtrlCap::CreateDeleteVolume) {
                self.expect_invalid(
                    "validation.create_volume_without_name",
                    timed(
                        t,
                        ctrl.create_volume(pb::CreateVolumeRequest {
                            volume_capabilities: vec![self.capability()],
                            ..Default::default()
                        }),
                    )
                    .await,
                );
                self.expect_invalid(
                    "validation.create_volume_without_capabilities",
                    timed(
                        t,
                        ctrl.create_volume(pb::CreateVolumeRequest {
                            name: "nomad-testkit-no-capabilities".into(),
                            ..Default::default()
                        }),
                    )
                    .await,
                );
                let mut bad = self.capability();
                bad.access_mode = Some(pb::volume_capability::AccessMode { mode: 0 });
                self.expect_invalid(
                    "validation.create_volume_with_unknown_access_mode",
                    timed(
                        t,
                        ctrl.create_volume(pb::CreateVolumeRequest {
                            name: "nomad-testkit-bad-mode".into(),
                            volume_capabilities: vec![bad],
                            ..Default::default()
                        }),
                    )
                    .await,
                );
                self.expect_invalid(
                    "validation.delete_volume_without_id",
                    timed(t, ctrl.delete_volume(pb::DeleteVolumeRequest::default())).await,
                );
            }
            if self.ctrl.contains(&CtrlCap::PublishUnpublishVolume) {
                self.expect_invalid(
                    "validation.controller_publish_without_node_id",
                    timed(
                        t,
                        ctrl.controller_publish_volume(pb::ControllerPublishVolumeRequest {
                            volume_id: "nomad-testkit-any".into(),
                            volume_capability: Some(self.capability()),
                            ..Default::default()
                        }),
                    )
                    .await,
                );
            }
            if self.ctrl.contains(&CtrlCap::CreateDeleteSnapshot) {
                self.expect_invalid(
                    "validation.create_snapshot_without_source",
                    timed(
                        t,
                        ctrl.create_snapshot(pb::CreateSnapshotRequest {
                            name: "nomad-testkit-snap".into(),
                            ..Default::default()
                        }),
                    )
                    .await,
                );
            }
            if self.ctrl.contains(&CtrlCap::ExpandVolume) {
                self.expect_invalid(
                    "validation.expand_without_volume_id",
                    timed(
                        t,
                        ctrl.controller_expand_volume(pb::ControllerExpandVolumeRequest::default()),
                    )
                    .await,
                );
            }
        }
        if has_node {
            self.expect_invalid(
                "validation.node_publish_without_volume_id",
                timed(
                    t,
                    node.node_publish_volume(pb::NodePublishVolumeRequest {
                        target_path: "/nomad-testkit/target".into(),
                        volume_capability: Some(self.capability()),
                        ..Default::default()
                    }),
                )
                .await,
            );
            self.expect_invalid(
                "validation.node_publish_without_capability",
                timed(
                    t,
                    node.node_publish_volume(pb::NodePublishVolumeRequest {
                        volume_id: "nomad-testkit-any".into(),
                        target_path: "/nomad-testkit/target".into(),
                        staging_target_path: "/nomad-testkit/staging".into(),
                        ..Default::default()
                    }),
                )
                .await,
            );
            self.expect_invalid(
                "validation.node_unpublish_without_target",
                timed(
                    t,
                    node.node_unpublish_volume(pb::NodeUnpublishVolumeRequest {
                        volume_id: "nomad-testkit-any".into(),
                        ..Default::default()
                    }),
                )
                .await,
            );
            if self.node.contains(&NodeCap::StageUnstageVolume) {
                self.expect_invalid(
                    "validation.node_stage_without_staging_path",
                    timed(
                        t,
                        node.node_stage_volume(pb::NodeStageVolumeRequest {
                            volume_id: "nomad-testkit-any".into(),
                            volume_capability: Some(self.capability()),
                            ..Default::default()
                        }),
                    )
                    .await,
                );
            }
            if self.node.contains(&NodeCap::GetVolumeStats) {
                self.expect_invalid(
                    "validation.volume_stats_without_path",
                    timed(
                        t,
                        node.node_get_volume_stats(pb::NodeGetVolumeStatsRequest {
                            volume_id: "nomad-testkit-any".into(),
                            ..Default::default()
                        }),
                    )
                    .await,
                );
            }
        }
    }
}

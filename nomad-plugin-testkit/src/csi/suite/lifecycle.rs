//! One volume through Nomad's whole lifecycle (create, publish,
//! stage, mount, unmount, unpublish, delete), controller and node steps.

use super::*;

impl Suite {
    /// Nomad's order: create (server), validate, controller publish
    /// (server, on claim), node stage + publish (client), stats, then the
    /// reverse on release, then delete. Every step is repeated once, as a
    /// Nomad retry after a timeout would.
    pub(super) async fn lifecycle(
        &mut self,
        has_controller: bool,
        has_node: bool,
        node_id: String,
    ) {
        let t = self.o.call_timeout;
        let mut ctrl = self.c.controller.clone();
        let cap = self.capability();
        let name = format!(
            "nomad-testkit-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let create = pb::CreateVolumeRequest {
            name: name.clone(),
            capacity_range: Some(pb::CapacityRange {
                required_bytes: self.o.capacity_bytes,
                limit_bytes: 0,
            }),
            volume_capabilities: vec![cap.clone()],
            parameters: self.o.parameters.clone(),
            ..Default::default()
        };

        let mut created = false;
        let volume_id = if has_controller && self.ctrl.contains(&CtrlCap::CreateDeleteVolume) {
            let r = timed(t, ctrl.create_volume(create.clone())).await;
            match r.map(|v| v.volume.unwrap_or_default()) {
                Ok(v) if v.volume_id.is_empty() => {
                    self.r.record("controller.create_volume", Err("CreateVolume returned no volume id; `nomad volume create` would register a volume Nomad can never address".into()));
                    return;
                }
                Ok(v) if v.capacity_bytes != 0 && v.capacity_bytes < self.o.capacity_bytes => {
                    self.r.record("controller.create_volume", Err(format!("asked for {} bytes, got {}; Nomad would record a volume smaller than the job requested", self.o.capacity_bytes, v.capacity_bytes)));
                    return;
                }
                Ok(v) => {
                    created = true;
                    self.r.record(
                        "controller.create_volume",
                        Ok(format!(
                            "volume {} of {} bytes",
                            v.volume_id, v.capacity_bytes
                        )),
                    );
                    let again = timed(t, ctrl.create_volume(create.clone())).await;
                    self.r.record("controller.create_volume_idempotent", match again {
                        Ok(a) if a.volume.as_ref().is_some_and(|a| a.volume_id == v.volume_id) => Ok("the same name gave the same volume".into()),
                        Ok(_) => Err("a repeated CreateVolume with the same name made another volume; Nomad retries after timeouts and would leak volumes".into()),
                        Err(s) => Err(format!("a repeated CreateVolume failed ({}); Nomad retries after timeouts and the retry would fail", show(&s))),
                    });
                    if v.capacity_bytes != 0 {
                        let mut bigger = create.clone();
                        let twice = v.capacity_bytes.saturating_mul(2);
                        bigger.capacity_range = Some(pb::CapacityRange {
                            required_bytes: twice,
                            limit_bytes: twice,
                        });
                        let r = timed(t, ctrl.create_volume(bigger)).await;
                        self.expect_code("controller.create_volume_conflict", Code::AlreadyExists,
                            "the spec requires ALREADY_EXISTS for the same name with an incompatible size, which Nomad reports as 'volume already exists with different parameters'", r);
                    } else {
                        self.r.skip(
                            "controller.create_volume_conflict",
                            "the plugin reports no capacity",
                        );
                    }
                    v.volume_id
                }
                Err(s) => {
                    self.r.record(
                        "controller.create_volume",
                        Err(format!(
                            "CreateVolume failed ({}); `nomad volume create` would fail",
                            show(&s)
                        )),
                    );
                    return;
                }
            }
        } else if let Some(id) = self.o.existing_volume_id.clone() {
            self.r.skip(
                "controller.create_volume",
                "no CREATE_DELETE_VOLUME: using the configured existing volume",
            );
            id
        } else {
            self.r.skip("controller.create_volume", "no CREATE_DELETE_VOLUME and no existing volume configured: volume lifecycle not checked");
            return;
        };

        if has_controller {
            let r = timed(
                t,
                ctrl.validate_volume_capabilities(pb::ValidateVolumeCapabilitiesRequest {
                    volume_id: volume_id.clone(),
                    volume_capabilities: vec![cap.clone()],
                    ..Default::default()
                }),
            )
            .await;
            self.r.record("controller.validate_capabilities", match r {
                Ok(v) => match v.confirmed {
                    Some(c) if c.volume_capabilities.iter().any(|got| same_capability(&cap, got)) => Ok("confirmed".into()),
                    Some(c) if c.volume_capabilities.is_empty() => Ok("confirmed without echoing capabilities (Nomad accepts this)".into()),
                    Some(_) => Err("the confirmed capabilities do not match the request (access mode, access type, fs type or mount flags); Nomad refuses the volume: 'volume capability validation failed'".into()),
                    None => Err(format!("the capability Nomad claims with was not confirmed ({:?}); `nomad volume register` and claims fail", v.message)),
                },
                Err(s) => Err(format!("ValidateVolumeCapabilities failed ({}); Nomad refuses to register or claim the volume", show(&s))),
            });
            let r = timed(
                t,
                ctrl.validate_volume_capabilities(pb::ValidateVolumeCapabilitiesRequest {
                    volume_id: format!("{volume_id}-does-not-exist"),
                    volume_capabilities: vec![cap.clone()],
                    ..Default::default()
                }),
            )
            .await;
            self.expect_code(
                "controller.validate_unknown_volume",
                Code::NotFound,
                "Nomad reports 'volume could not be found' only for NOT_FOUND",
                r,
            );
        }

        let mut publish_context = HashMap::new();
        let controller_publish = has_controller
            && self.ctrl.contains(&CtrlCap::PublishUnpublishVolume)
            && !node_id.is_empty();
        if controller_publish {
            let req = pb::ControllerPublishVolumeRequest {
                volume_id: volume_id.clone(),
                node_id: node_id.clone(),
                volume_capability: Some(cap.clone()),
                readonly: self.o.usage.read_only,
                ..Default::default()
            };
            match timed(t, ctrl.controller_publish_volume(req.clone())).await {
                Ok(p) => {
                    publish_context = p.publish_context;
                    self.r
                        .record("controller.publish", Ok(format!("published to {node_id}")));
                    let again = timed(t, ctrl.controller_publish_volume(req)).await;
                    self.r.record("controller.publish_idempotent", match again {
                        Ok(p) if p.publish_context == publish_context => Ok("same publish context".into()),
                        Ok(_) => Err("a repeated ControllerPublishVolume returned another publish context; Nomad's retried claim would hand the node stale data".into()),
                        Err(s) => Err(format!("a repeated ControllerPublishVolume failed ({}); Nomad retries claims and the allocation would fail", show(&s))),
                    });
                }
                Err(s) => {
                    self.r.record("controller.publish", Err(format!("ControllerPublishVolume failed ({}); the claim fails on the Nomad server and the allocation does not start", show(&s))));
                }
            }
            let r = timed(
                t,
                ctrl.controller_publish_volume(pb::ControllerPublishVolumeRequest {
                    volume_id: format!("{volume_id}-does-not-exist"),
                    node_id: node_id.clone(),
                    volume_capability: Some(cap.clone()),
                    ..Default::default()
                }),
            )
            .await;
            self.expect_code(
                "controller.publish_unknown_volume",
                Code::NotFound,
                "Nomad reports 'volume or node could not be found' only for NOT_FOUND",
                r,
            );
        } else if has_controller {
            self.r.skip(
                "controller.publish",
                "no PUBLISH_UNPUBLISH_VOLUME (or no node): Nomad skips controller publishing",
            );
        }

        if has_node {
            self.node_steps(&volume_id, &cap, &publish_context).await;
        }

        if has_controller && self.ctrl.contains(&CtrlCap::ListVolumes) {
            self.list_volumes(&volume_id).await;
        }
        if has_controller && self.ctrl.contains(&CtrlCap::ExpandVolume) {
            let want = self.o.capacity_bytes.saturating_mul(2);
            let r = timed(
                t,
                ctrl.controller_expand_volume(pb::ControllerExpandVolumeRequest {
                    volume_id: volume_id.clone(),
                    capacity_range: Some(pb::CapacityRange {
                        required_bytes: want,
                        limit_bytes: 0,
                    }),
                    ..Default::default()
                }),
            )
            .await;
            self.r.record("controller.expand_volume", match r {
                Ok(e) if e.capacity_bytes >= want => Ok(format!("now {} bytes", e.capacity_bytes)),
                Ok(e) => Err(format!("asked to grow to {want} bytes, reported {}; Nomad would record a wrong capacity", e.capacity_bytes)),
                Err(s) => Err(format!("ControllerExpandVolume failed ({}); `nomad volume create` with a larger capacity would fail", show(&s))),
            });
        }
        if has_controller && self.ctrl.contains(&CtrlCap::CreateDeleteSnapshot) {
            self.snapshots(&volume_id).await;
        }

        if controller_publish {
            let req = pb::ControllerUnpublishVolumeRequest {
                volume_id: volume_id.clone(),
                node_id: node_id.clone(),
                ..Default::default()
            };
            let first = timed(t, ctrl.controller_unpublish_volume(req.clone())).await;
            let second = timed(t, ctrl.controller_unpublish_volume(req)).await;
            self.r.record("controller.unpublish", match (first, second) {
                (Ok(_), Ok(_)) => Ok("unpublished, and again".into()),
                (Err(s), _) => Err(format!("ControllerUnpublishVolume failed ({}); Nomad's volume watcher retries and the claim is never released", show(&s))),
                (_, Err(s)) => Err(format!("a repeated ControllerUnpublishVolume failed ({}); the spec requires idempotency and Nomad retries releases", show(&s))),
            });
        }

        if created {
            let first = timed(
                t,
                ctrl.delete_volume(pb::DeleteVolumeRequest {
                    volume_id: volume_id.clone(),
                    ..Default::default()
                }),
            )
            .await;
            let second = timed(
                t,
                ctrl.delete_volume(pb::DeleteVolumeRequest {
                    volume_id: volume_id.clone(),
                    ..Default::default()
                }),
            )
            .await;
            self.r.record("controller.delete_volume", match (first, second) {
                (Ok(_), Ok(_)) => Ok("deleted, and deleting again succeeded".into()),
                (Err(s), _) => Err(format!("DeleteVolume failed ({}); `nomad volume delete` fails", show(&s))),
                (_, Err(s)) => Err(format!("deleting a deleted volume failed ({}); the spec requires success and Nomad retries deletes", show(&s))),
            });
        }
    }

    pub(super) async fn node_steps(
        &mut self,
        volume_id: &str,
        cap: &pb::VolumeCapability,
        publish_context: &HashMap<String, String>,
    ) {
        let t = self.o.call_timeout;
        let mut node = self.c.node.clone();
        let root = self.o.mount_root.clone();
        let usage = self.o.usage.clone();
        let staging = staging_path(&root, &self.o.namespace, volume_id, &usage);
        let target = target_path(&root, &self.o.alloc_id, volume_id, &usage);
        let stages = self.node.contains(&NodeCap::StageUnstageVolume);
        let mkdir = |p: &std::path::Path| {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(p)
        };

        if stages {
            // Nomad creates the staging directory itself.
            if let Err(e) = mkdir(&staging) {
                self.r.record(
                    "node.stage",
                    Err(format!(
                        "the suite could not create {}: {e}",
                        staging.display()
                    )),
                );
                return;
            }
            let req = pb::NodeStageVolumeRequest {
                volume_id: volume_id.into(),
                publish_context: publish_context.clone(),
                staging_target_path: staging.display().to_string(),
                volume_capability: Some(cap.clone()),
                ..Default::default()
            };
            let first = timed(t, node.node_stage_volume(req.clone())).await;
            let ok = self.r.record("node.stage", match &first {
                Ok(_) => Ok(format!("staged at {}", staging.display())),
                Err(s) => Err(format!("NodeStageVolume failed ({}); the allocation fails to start ('Mount volume' node event with success=false)", show(s))),
            });
            if !ok {
                return;
            }
            let second = timed(t, node.node_stage_volume(req)).await;
            self.r.record("node.stage_idempotent", match second {
                Ok(_) => Ok("staging again succeeded".into()),
                Err(s) => Err(format!("a repeated NodeStageVolume failed ({}); Nomad retries stage calls after timeouts and the allocation would fail", show(&s))),
            });
        }

        // Nomad creates the parent of the target, the plugin the target.
        if let Some(parent) = target.parent() {
            if let Err(e) = mkdir(parent) {
                self.r.record(
                    "node.publish",
                    Err(format!(
                        "the suite could not create {}: {e}",
                        parent.display()
                    )),
                );
                return;
            }
        }
        let req = pb::NodePublishVolumeRequest {
            volume_id: volume_id.into(),
            publish_context: publish_context.clone(),
            staging_target_path: if stages {
                staging.display().to_string()
            } else {
                String::new()
            },
            target_path: target.display().to_string(),
            volume_capability: Some(cap.clone()),
            readonly: usage.read_only,
            ..Default::default()
        };
        let first = timed(t, node.node_publish_volume(req.clone())).await;
        let published = self.r.record("node.publish", match &first {
            Ok(_) if !target.exists() => Err(format!("NodePublishVolume succeeded but {} does not exist; the plugin must create the target, and Nomad would bind an empty path into the task", target.display())),
            Ok(_) => Ok(format!("published at {}", target.display())),
            Err(s) => Err(format!("NodePublishVolume failed ({}); the allocation fails to start", show(s))),
        });
        if published {
            let second = timed(t, node.node_publish_volume(req)).await;
            self.r.record("node.publish_idempotent", match second {
                Ok(_) => Ok("publishing again succeeded".into()),
                Err(s) => Err(format!("a repeated NodePublishVolume failed ({}); Nomad retries publish calls after timeouts and the allocation would fail", show(&s))),
            });
            if !usage.read_only && usage.attachment_mode == AttachmentMode::FileSystem {
                let probe = target.join(".nomad-testkit-write");
                let outcome = std::fs::write(&probe, b"nomad")
                    .and_then(|_| std::fs::read(&probe))
                    .and_then(|b| std::fs::remove_file(&probe).map(|_| b));
                self.r.record("node.publish_writable", match outcome {
                    Ok(b) if b == b"nomad" => Ok("a file written at the target reads back".into()),
                    Ok(_) => Err("a file written at the target read back differently".into()),
                    Err(e) => Err(format!("cannot write at the read-write target ({e}); the task would not be able to use its volume")),
                });
            }
        }

        if self.node.contains(&NodeCap::GetVolumeStats) && published {
            let r = timed(
                t,
                node.node_get_volume_stats(pb::NodeGetVolumeStatsRequest {
                    volume_id: volume_id.into(),
                    volume_path: target.display().to_string(),
                    ..Default::default()
                }),
            )
            .await;
            self.r.record(
                "node.volume_stats",
                match r {
                    Ok(s) if s.usage.is_empty() => Err(
                        "NodeGetVolumeStats returned no usage; Nomad shows nothing for the volume"
                            .into(),
                    ),
                    Ok(s) => Ok(format!("{} usage entries", s.usage.len())),
                    Err(s) => Err(format!(
                        "NodeGetVolumeStats failed ({}) on a published volume",
                        show(&s)
                    )),
                },
            );
            let r = timed(
                t,
                node.node_get_volume_stats(pb::NodeGetVolumeStatsRequest {
                    volume_id: volume_id.into(),
                    volume_path: root
                        .join("nomad-testkit-not-a-volume")
                        .display()
                        .to_string(),
                    ..Default::default()
                }),
            )
            .await;
            self.expect_code(
                "node.volume_stats_unknown_path",
                Code::NotFound,
                "the spec requires NOT_FOUND when the volume is not at the path",
                r,
            );
        }

        if published {
            let req = pb::NodeUnpublishVolumeRequest {
                volume_id: volume_id.into(),
                target_path: target.display().to_string(),
            };
            let first = timed(t, node.node_unpublish_volume(req.clone())).await;
            self.r.record("node.unpublish", match first {
                Ok(_) if target.exists() => Err(format!("NodeUnpublishVolume left {} behind; the plugin must remove the target it created, and Nomad's own removal of the path then fails, keeping the claim", target.display())),
                Ok(_) => Ok("unpublished and the target was removed".into()),
                Err(s) => Err(format!("NodeUnpublishVolume failed ({}); the allocation's volume is never released on this node", show(&s))),
            });
            let second = timed(t, node.node_unpublish_volume(req)).await;
            self.r.record("node.unpublish_idempotent", match second {
                Ok(_) => Ok("unpublishing again succeeded".into()),
                Err(s) => Err(format!("a repeated NodeUnpublishVolume failed ({}); Nomad retries unmounts after client restarts", show(&s))),
            });
        }
        if stages {
            let req = pb::NodeUnstageVolumeRequest {
                volume_id: volume_id.into(),
                staging_target_path: staging.display().to_string(),
            };
            let first = timed(t, node.node_unstage_volume(req.clone())).await;
            let second = timed(t, node.node_unstage_volume(req)).await;
            self.r.record("node.unstage", match (first, second) {
                (Ok(_), Ok(_)) => Ok("unstaged, and again".into()),
                (Err(s), _) => Err(format!("NodeUnstageVolume failed ({}); the volume stays attached to this node and cannot be claimed elsewhere", show(&s))),
                (_, Err(s)) => Err(format!("a repeated NodeUnstageVolume failed ({}); the spec requires idempotency", show(&s))),
            });
        }
        // Like Nomad, remove the directories Nomad created.
        let _ = std::fs::remove_dir_all(root.join("per-alloc").join(&self.o.alloc_id));
        let _ =
            std::fs::remove_dir_all(root.join("staging").join(&self.o.namespace).join(volume_id));
    }
}

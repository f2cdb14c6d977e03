//! The CSI conformance suite: drives a plugin through what a Nomad client
//! and server do with it, in Nomad's order and with Nomad's paths, and
//! checks the spec's rules Nomad relies on (idempotency, error codes,
//! capability coherence). Every failure says what Nomad would do.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::time::Duration;

use nomad_plugin_proto::csi as pb;
use pb::controller_service_capability::rpc::Type as CtrlCap;
use pb::node_service_capability::rpc::Type as NodeCap;
use pb::plugin_capability::service::Type as SvcCap;
use tonic::{Code, Status};

use super::client::CsiClient;
use super::nomad::{staging_path, target_path, AttachmentMode, Usage};
use crate::report::{Progress, SuiteReport};

/// What the suite uses.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The directory Nomad would use for this plugin's staging and publish
    /// paths, as the plugin sees it (`csi_plugin.mount_dir`'s volume area).
    /// The suite creates what Nomad creates under it.
    pub mount_root: PathBuf,
    /// The volume's namespace, part of the staging path.
    pub namespace: String,
    /// The allocation id used in publish paths.
    pub alloc_id: String,
    /// The size of the test volume.
    pub capacity_bytes: i64,
    /// The usage the allocation claims.
    pub usage: Usage,
    /// `parameters` for `CreateVolume` (Nomad's volume spec block).
    pub parameters: HashMap<String, String>,
    /// A volume to use when the plugin cannot create volumes.
    pub existing_volume_id: Option<String>,
    /// Deadline of each call.
    pub call_timeout: Duration,
    /// Told about each check as soon as it is recorded.
    pub progress: Option<Progress>,
}

impl SuiteOptions {
    /// Defaults with staging and publish paths under `mount_root`.
    pub fn new(mount_root: impl Into<PathBuf>) -> Self {
        SuiteOptions {
            mount_root: mount_root.into(),
            namespace: "default".into(),
            alloc_id: "8f1f0b5e-0000-4000-8000-00000000c5c1".into(),
            capacity_bytes: 64 << 20,
            usage: Usage::single_node_writer(),
            parameters: HashMap::new(),
            existing_volume_id: None,
            call_timeout: Duration::from_secs(60),
            progress: None,
        }
    }
}

/// Runs the suite against the plugin behind `client`; `plugin` names it in
/// the report.
pub async fn run_suite(client: &CsiClient, plugin: &str, options: &SuiteOptions) -> SuiteReport {
    let mut s = Suite {
        c: client.clone(),
        o: options.clone(),
        r: SuiteReport::new("csi", plugin).with_progress(options.progress.clone()),
        ctrl: HashSet::new(),
        node: HashSet::new(),
    };
    s.run().await;
    s.r
}

struct Suite {
    c: CsiClient,
    o: SuiteOptions,
    r: SuiteReport,
    ctrl: HashSet<CtrlCap>,
    node: HashSet<NodeCap>,
}

fn show(s: &Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

/// Turns a call's outcome into the answer, or a description of the error.
async fn timed<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within {timeout:?}"
        ))),
    }
}

impl Suite {
    fn capability(&self) -> pb::VolumeCapability {
        use pb::volume_capability::*;
        let mode = match self.o.usage.access_mode.as_str() {
            "single-node-reader-only" => access_mode::Mode::SingleNodeReaderOnly,
            "multi-node-reader-only" => access_mode::Mode::MultiNodeReaderOnly,
            "multi-node-single-writer" => access_mode::Mode::MultiNodeSingleWriter,
            "multi-node-multi-writer" => access_mode::Mode::MultiNodeMultiWriter,
            _ => access_mode::Mode::SingleNodeWriter,
        };
        pb::VolumeCapability {
            access_type: Some(match self.o.usage.attachment_mode {
                AttachmentMode::FileSystem => AccessType::Mount(MountVolume::default()),
                AttachmentMode::BlockDevice => AccessType::Block(BlockVolume {}),
            }),
            access_mode: Some(AccessMode { mode: mode as i32 }),
        }
    }

    /// A request with missing fields must be refused with INVALID_ARGUMENT.
    fn expect_invalid<T>(&mut self, name: &str, result: Result<T, Status>) {
        let outcome = match result {
            Err(s) if s.code() == Code::InvalidArgument => Ok(format!("refused: {}", s.message())),
            Err(s) => Err(format!(
                "answered {} instead of INVALID_ARGUMENT; the spec requires INVALID_ARGUMENT \
                 for missing fields, and Nomad would report a misleading error to the operator",
                show(&s)
            )),
            Ok(_) => Err(
                "accepted a request with required fields missing; Nomad relies on the plugin \
                 to refuse malformed requests"
                    .into(),
            ),
        };
        self.r.record(name, outcome);
    }

    fn expect_code<T>(&mut self, name: &str, want: Code, nomad: &str, result: Result<T, Status>) {
        let outcome = match result {
            Err(s) if s.code() == want => Ok(format!("{want:?} as the spec requires")),
            Err(s) => Err(format!(
                "answered {} instead of {want:?}; {nomad}",
                show(&s)
            )),
            Ok(_) => Err(format!("succeeded instead of answering {want:?}; {nomad}")),
        };
        self.r.record(name, outcome);
    }

    async fn run(&mut self) {
        let t = self.o.call_timeout;

        // Identity, as in Nomad's plugin fingerprint.
        let probe = self.c.probe(t).await;
        self.r.record(
            "identity.probe",
            match probe {
                Ok(true) => Ok("ready".into()),
                Ok(false) => Err("Probe answered ready=false; Nomad keeps the plugin unhealthy and never uses it".into()),
                Err(e) => Err(format!("Probe failed ({e}); Nomad marks the plugin unhealthy")),
            },
        );
        let info = timed(
            t,
            self.c
                .identity
                .clone()
                .get_plugin_info(pb::GetPluginInfoRequest {}),
        )
        .await;
        self.r.record(
            "identity.plugin_info",
            match info {
                Ok(i) if i.name.is_empty() => Err("GetPluginInfo returned an empty name; Nomad's client rejects it ('plugin returned empty name field') and the plugin never becomes healthy".into()),
                Ok(i) => Ok(format!("{} {}", i.name, i.vendor_version)),
                Err(s) => Err(format!("GetPluginInfo failed ({}); Nomad cannot fingerprint the plugin", show(&s))),
            },
        );
        let caps = timed(
            t,
            self.c
                .identity
                .clone()
                .get_plugin_capabilities(pb::GetPluginCapabilitiesRequest {}),
        )
        .await;
        let mut has_controller = false;
        let mut accessibility = false;
        let ok = self.r.record(
            "identity.capabilities",
            match caps {
                Ok(c) => {
                    use pb::plugin_capability::Type;
                    let mut names = Vec::new();
                    for cap in &c.capabilities {
                        match &cap.r#type {
                            Some(Type::Service(s)) => match SvcCap::try_from(s.r#type) {
                                Ok(SvcCap::ControllerService) => has_controller = true,
                                Ok(SvcCap::VolumeAccessibilityConstraints) => accessibility = true,
                                _ => {}
                            },
                            Some(Type::VolumeExpansion(_)) | None => {}
                        }
                        names.push(format!("{:?}", cap.r#type));
                    }
                    Ok(format!("controller service: {has_controller}, topology: {accessibility}"))
                }
                Err(s) => Err(format!("GetPluginCapabilities failed ({}); Nomad's fingerprint fails and the plugin stays unhealthy", show(&s))),
            },
        );
        if !ok {
            return;
        }

        if has_controller {
            let r = timed(
                t,
                self.c
                    .controller
                    .clone()
                    .controller_get_capabilities(pb::ControllerGetCapabilitiesRequest {}),
            )
            .await;
            let outcome = match r {
                Ok(c) => {
                    use pb::controller_service_capability::Type;
                    let mut unknown = false;
                    for cap in c.capabilities {
                        match cap.r#type {
                            Some(Type::Rpc(rpc)) => match CtrlCap::try_from(rpc.r#type) {
                                Ok(CtrlCap::Unknown) | Err(_) => unknown = true,
                                Ok(k) => {
                                    self.ctrl.insert(k);
                                }
                            },
                            None => unknown = true,
                        }
                    }
                    if unknown {
                        Err("ControllerGetCapabilities lists an UNKNOWN or empty capability; Nomad ignores it, which hides a plugin bug".into())
                    } else {
                        let mut v: Vec<_> = self.ctrl.iter().map(|c| c.as_str_name()).collect();
                        v.sort();
                        Ok(v.join(", "))
                    }
                }
                Err(s) => Err(format!("the plugin advertises CONTROLLER_SERVICE but ControllerGetCapabilities failed ({}); Nomad reports no healthy controller and volume operations fail", show(&s))),
            };
            self.r.record("controller.capabilities", outcome);
        } else {
            self.r.skip(
                "controller.capabilities",
                "no CONTROLLER_SERVICE: Nomad uses this plugin as a node plugin only",
            );
        }

        let r = timed(
            t,
            self.c
                .node
                .clone()
                .node_get_capabilities(pb::NodeGetCapabilitiesRequest {}),
        )
        .await;
        let has_node = match r {
            Ok(c) => {
                use pb::node_service_capability::Type;
                for cap in c.capabilities {
                    if let Some(Type::Rpc(rpc)) = cap.r#type {
                        if let Ok(k) = NodeCap::try_from(rpc.r#type) {
                            self.node.insert(k);
                        }
                    }
                }
                let mut v: Vec<_> = self.node.iter().map(|c| c.as_str_name()).collect();
                v.sort();
                self.r.record("node.capabilities", Ok(v.join(", ")));
                true
            }
            Err(s) if s.code() == Code::Unimplemented && has_controller => {
                self.r.skip(
                    "node.capabilities",
                    "no Node service: a controller-only plugin",
                );
                false
            }
            Err(s) => {
                self.r.record(
                    "node.capabilities",
                    Err(format!(
                        "NodeGetCapabilities failed ({}); Nomad cannot fingerprint the node plugin",
                        show(&s)
                    )),
                );
                false
            }
        };

        let mut node_id = String::new();
        if has_node {
            let r = timed(
                t,
                self.c.node.clone().node_get_info(pb::NodeGetInfoRequest {}),
            )
            .await;
            let outcome = match r {
                Ok(i) if i.node_id.is_empty() => Err("NodeGetInfo returned an empty node_id; Nomad refuses the node plugin and no volume can be mounted on this node".into()),
                Ok(i) if i.max_volumes_per_node < 0 => Err(format!("max_volumes_per_node is negative ({}); Nomad's scheduler would misplace volumes", i.max_volumes_per_node)),
                Ok(i) if accessibility && i.accessible_topology.is_none() => Err("the plugin advertises VOLUME_ACCESSIBILITY_CONSTRAINTS but NodeGetInfo has no topology; Nomad could not place volumes with topology on this node".into()),
                Ok(i) => {
                    node_id = i.node_id.clone();
                    Ok(format!(
                        "node_id {:?}, max_volumes_per_node {} (0 = unlimited)",
                        i.node_id, i.max_volumes_per_node
                    ))
                }
                Err(s) => Err(format!("NodeGetInfo failed ({}); Nomad cannot fingerprint the node plugin", show(&s))),
            };
            self.r.record("node.info", outcome);
        }

        self.validation(has_controller, has_node).await;
        self.lifecycle(has_controller, has_node, node_id).await;
    }

    /// Required fields, and that advertised RPCs are implemented: an empty
    /// request must be INVALID_ARGUMENT, never UNIMPLEMENTED.
    async fn validation(&mut self, has_controller: bool, has_node: bool) {
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

    /// Nomad's order: create (server), validate, controller publish
    /// (server, on claim), node stage + publish (client), stats, then the
    /// reverse on release, then delete. Every step is repeated once, as a
    /// Nomad retry after a timeout would.
    async fn lifecycle(&mut self, has_controller: bool, has_node: bool, node_id: String) {
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

    async fn node_steps(
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

    async fn list_volumes(&mut self, volume_id: &str) {
        let t = self.o.call_timeout;
        let mut ctrl = self.c.controller.clone();
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut outcome = Ok(String::new());
        let mut pages = 0;
        for _ in 0..10_000 {
            pages += 1;
            match timed(
                t,
                ctrl.list_volumes(pb::ListVolumesRequest {
                    max_entries: 1,
                    starting_token: token.clone(),
                }),
            )
            .await
            {
                Ok(page) => {
                    if page.entries.len() > 1 {
                        outcome = Err(format!("asked for 1 entry, got {}; Nomad pages through volumes with max_entries", page.entries.len()));
                        break;
                    }
                    seen.extend(
                        page.entries
                            .into_iter()
                            .filter_map(|e| e.volume.map(|v| v.volume_id)),
                    );
                    if page.next_token.is_empty() {
                        break;
                    }
                    token = page.next_token;
                }
                Err(s) => {
                    outcome = Err(format!(
                        "ListVolumes failed ({}); Nomad cannot list the plugin's volumes",
                        show(&s)
                    ));
                    break;
                }
            }
        }
        if outcome.is_ok() {
            let unique: HashSet<_> = seen.iter().collect();
            outcome = if unique.len() != seen.len() {
                Err("paging with max_entries=1 returned a volume twice".into())
            } else if !seen.iter().any(|v| v == volume_id) {
                Err(format!("the volume {volume_id} is missing from ListVolumes; Nomad's volume listing would not show it"))
            } else {
                Ok(format!(
                    "{} volumes over {pages} pages of at most 1",
                    seen.len()
                ))
            };
        }
        self.r.record("controller.list_volumes", outcome);
        let r = timed(
            t,
            ctrl.list_volumes(pb::ListVolumesRequest {
                max_entries: 0,
                starting_token: "nomad-testkit-bogus-token".into(),
            }),
        )
        .await;
        self.expect_code("controller.list_volumes_bad_token", Code::Aborted,
            "the spec requires ABORTED for a starting_token the plugin did not issue, so the caller restarts the listing", r);
    }

    async fn snapshots(&mut self, volume_id: &str) {
        let t = self.o.call_timeout;
        let mut ctrl = self.c.controller.clone();
        let req = pb::CreateSnapshotRequest {
            source_volume_id: volume_id.into(),
            name: format!("nomad-testkit-snap-{volume_id}"),
            ..Default::default()
        };
        let first = match timed(t, ctrl.create_snapshot(req.clone())).await {
            Ok(s) => s.snapshot.unwrap_or_default(),
            Err(s) => {
                self.r.record(
                    "controller.create_snapshot",
                    Err(format!(
                        "CreateSnapshot failed ({}); `nomad volume snapshot create` fails",
                        show(&s)
                    )),
                );
                return;
            }
        };
        self.r.record(
            "controller.create_snapshot",
            if first.snapshot_id.is_empty() {
                Err("CreateSnapshot returned no snapshot id; Nomad could never delete it".into())
            } else if first.source_volume_id != volume_id {
                Err(format!(
                    "the snapshot names source volume {:?}, not {volume_id:?}",
                    first.source_volume_id
                ))
            } else {
                Ok(format!("snapshot {}", first.snapshot_id))
            },
        );
        let again = timed(t, ctrl.create_snapshot(req)).await;
        self.r.record("controller.create_snapshot_idempotent", match again {
            Ok(s) if s.snapshot.as_ref().is_some_and(|s| s.snapshot_id == first.snapshot_id) => Ok("same snapshot".into()),
            Ok(_) => Err("a repeated CreateSnapshot made another snapshot; Nomad's retries would leak snapshots".into()),
            Err(s) => Err(format!("a repeated CreateSnapshot failed ({})", show(&s))),
        });
        if self.ctrl.contains(&CtrlCap::ListSnapshots) {
            let r = timed(
                t,
                ctrl.list_snapshots(pb::ListSnapshotsRequest {
                    snapshot_id: first.snapshot_id.clone(),
                    ..Default::default()
                }),
            )
            .await;
            self.r.record("controller.list_snapshots", match r {
                Ok(l) if l.entries.iter().any(|e| e.snapshot.as_ref().is_some_and(|s| s.snapshot_id == first.snapshot_id)) => Ok("listed".into()),
                Ok(_) => Err("the new snapshot is missing from ListSnapshots; `nomad volume snapshot list` would not show it".into()),
                Err(s) => Err(format!("ListSnapshots failed ({})", show(&s))),
            });
        }
        let d1 = timed(
            t,
            ctrl.delete_snapshot(pb::DeleteSnapshotRequest {
                snapshot_id: first.snapshot_id.clone(),
                ..Default::default()
            }),
        )
        .await;
        let d2 = timed(
            t,
            ctrl.delete_snapshot(pb::DeleteSnapshotRequest {
                snapshot_id: first.snapshot_id.clone(),
                ..Default::default()
            }),
        )
        .await;
        self.r.record(
            "controller.delete_snapshot",
            match (d1, d2) {
                (Ok(_), Ok(_)) => Ok("deleted, and deleting again succeeded".into()),
                (Err(s), _) => Err(format!(
                    "DeleteSnapshot failed ({}); `nomad volume snapshot delete` fails",
                    show(&s)
                )),
                (_, Err(s)) => Err(format!(
                    "deleting a deleted snapshot failed ({}); the spec requires success",
                    show(&s)
                )),
            },
        );
    }
}

/// Nomad's comparison of a requested and a confirmed capability
/// (`compareCapabilities`): mode (if reported), access type, fs type and
/// every requested mount flag must match.
fn same_capability(want: &pb::VolumeCapability, got: &pb::VolumeCapability) -> bool {
    use pb::volume_capability::AccessType;
    let want_mode = want.access_mode.as_ref().map(|m| m.mode).unwrap_or(0);
    let got_mode = got.access_mode.as_ref().map(|m| m.mode).unwrap_or(0);
    if got_mode != 0 && got_mode != want_mode {
        return false;
    }
    match (&want.access_type, &got.access_type) {
        (Some(AccessType::Block(_)), Some(AccessType::Block(_))) => true,
        (Some(AccessType::Mount(w)), Some(AccessType::Mount(g))) => {
            w.fs_type == g.fs_type && w.mount_flags.iter().all(|f| g.mount_flags.contains(f))
        }
        (_, None) => true,
        _ => false,
    }
}

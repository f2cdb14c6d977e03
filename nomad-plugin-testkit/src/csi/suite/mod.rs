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

mod lifecycle;
mod listing;
mod validation;

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

//! A CSI plugin under test, called as Nomad's client and servers call it,
//! with typed calls for a vendor's own tests.

use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use nomad_plugin_proto::csi as pb;
use pb::controller_service_capability::rpc::Type as CtrlCap;
use pb::node_service_capability::rpc::Type as NodeCap;
use tonic::Status;

use super::client::CsiClient;
use super::nomad::{staging_path, target_path, AttachmentMode, Usage};
use super::process::{CsiLaunch, CsiLaunchError, CsiPluginProcess};

/// Why a [`CsiHarness`] call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsiHarnessError {
    /// The plugin did not start or never became ready.
    #[error(transparent)]
    Launch(#[from] CsiLaunchError),
    /// The plugin answered with an error status.
    #[error("{call} failed ({code}): {message}")]
    Rpc {
        /// The RPC.
        call: &'static str,
        /// The gRPC code by name (`NotFound`).
        code: String,
        /// The status message, as Nomad shows it to the operator.
        message: String,
    },
    /// The plugin answered something Nomad cannot use.
    #[error("{0}")]
    Protocol(String),
    /// Preparing a path Nomad would prepare failed.
    #[error("preparing {path}: {source}")]
    Setup {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What `GetPluginInfo` said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsiPluginInfo {
    /// The plugin's name (`plugin_id` is the operator's, this is the plugin's).
    pub name: String,
    /// The plugin's version.
    pub vendor_version: String,
}

/// A volume the controller created.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsiVolume {
    /// The plugin's id for it (Nomad's `external_id`).
    pub id: String,
    /// Its capacity, 0 if the plugin did not say.
    pub capacity_bytes: i64,
    /// The plugin's context, passed back on every later call.
    pub context: HashMap<String, String>,
}

/// A launched, ready CSI plugin and a mount root laid out as Nomad's
/// `csimanager` lays it out (`staging/<ns>/<vol>/<usage>`,
/// `per-alloc/<alloc>/<vol>/<usage>`). Every call uses a read-write
/// file-system `single-node-writer` usage and has a deadline.
///
/// Dropping the harness lazily unmounts whatever it published or staged
/// and is still mounted (a test that failed half-way leaves no mount
/// behind), then kills the plugin.
///
/// ```no_run
/// # async fn demo() -> Result<(), nomad_plugin_testkit::csi::CsiHarnessError> {
/// use nomad_plugin_testkit::csi::{CsiHarness, CsiLaunch};
///
/// let harness = CsiHarness::launch(
///     CsiLaunch::new("target/debug/csi-hostpath").args(["--data-dir", "/tmp/data"]),
///     "/tmp/csi-mounts",
/// )
/// .await?;
/// let volume = harness.create_volume("web-data", 1 << 20).await?;
/// let path = harness.publish(&volume, "alloc-1").await?;
/// std::fs::write(path.join("hello"), b"hi").unwrap();
/// harness.unpublish(&volume, "alloc-1").await?;
/// harness.delete_volume(&volume).await?;
/// harness.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct CsiHarness {
    process: Option<CsiPluginProcess>,
    client: CsiClient,
    root: PathBuf,
    usage: Usage,
    timeout: Duration,
    node_id: String,
    controller_publishes: bool,
    node_stages: bool,
    mounted: Mutex<Vec<PathBuf>>,
}

impl std::fmt::Debug for CsiHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsiHarness")
            .field("socket", &self.client.socket())
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn rpc<T>(call: &'static str, r: Result<T, Status>) -> Result<T, CsiHarnessError> {
    r.map_err(|s| CsiHarnessError::Rpc {
        call,
        code: format!("{:?}", s.code()),
        message: s.message().to_string(),
    })
}

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

fn mkdir(path: &Path) -> Result<(), CsiHarnessError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| CsiHarnessError::Setup {
            path: path.to_path_buf(),
            source,
        })
}

impl CsiHarness {
    /// Starts the plugin as Nomad starts a `csi_plugin` task, probes it
    /// until ready, and reads its node id and capabilities. `mount_root` is
    /// where staging and publish paths are made (Nomad's
    /// `csi_plugin.stage_publish_base_dir`).
    pub async fn launch(
        launch: CsiLaunch,
        mount_root: impl Into<PathBuf>,
    ) -> Result<CsiHarness, CsiHarnessError> {
        let process = launch.start().await?;
        let client = process.client().await.map_err(|e| {
            CsiHarnessError::Protocol(format!("connecting to the plugin's socket: {e}"))
        })?;
        let timeout = Duration::from_secs(60);
        let info = rpc(
            "NodeGetInfo",
            timed(
                timeout,
                client.node.clone().node_get_info(pb::NodeGetInfoRequest {}),
            )
            .await,
        )?;
        let node_caps = rpc(
            "NodeGetCapabilities",
            timed(
                timeout,
                client
                    .node
                    .clone()
                    .node_get_capabilities(pb::NodeGetCapabilitiesRequest {}),
            )
            .await,
        )?;
        let node_stages = node_caps.capabilities.iter().any(|c| {
            matches!(&c.r#type, Some(pb::node_service_capability::Type::Rpc(r))
                if r.r#type == NodeCap::StageUnstageVolume as i32)
        });
        // A node-only plugin has no controller service: no controller publish.
        let controller_publishes = match timed(
            timeout,
            client
                .controller
                .clone()
                .controller_get_capabilities(pb::ControllerGetCapabilitiesRequest {}),
        )
        .await
        {
            Ok(caps) => caps.capabilities.iter().any(|c| {
                matches!(&c.r#type, Some(pb::controller_service_capability::Type::Rpc(r))
                    if r.r#type == CtrlCap::PublishUnpublishVolume as i32)
            }),
            Err(_) => false,
        };
        Ok(CsiHarness {
            process: Some(process),
            client,
            root: mount_root.into(),
            usage: Usage::single_node_writer(),
            timeout,
            node_id: info.node_id,
            controller_publishes,
            node_stages,
            mounted: Mutex::new(Vec::new()),
        })
    }

    /// The client, for calls the harness does not wrap.
    pub fn client(&self) -> &CsiClient {
        &self.client
    }

    /// The node id `NodeGetInfo` reported.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Everything the plugin wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.process
            .as_ref()
            .map(CsiPluginProcess::output)
            .unwrap_or_default()
    }

    /// `GetPluginInfo`.
    pub async fn plugin_info(&self) -> Result<CsiPluginInfo, CsiHarnessError> {
        let r = rpc(
            "GetPluginInfo",
            timed(
                self.timeout,
                self.client
                    .identity
                    .clone()
                    .get_plugin_info(pb::GetPluginInfoRequest {}),
            )
            .await,
        )?;
        Ok(CsiPluginInfo {
            name: r.name,
            vendor_version: r.vendor_version,
        })
    }

    fn capability(&self) -> pb::VolumeCapability {
        use pb::volume_capability::*;
        pb::VolumeCapability {
            access_type: Some(match self.usage.attachment_mode {
                AttachmentMode::FileSystem => AccessType::Mount(MountVolume::default()),
                AttachmentMode::BlockDevice => AccessType::Block(BlockVolume {}),
            }),
            access_mode: Some(AccessMode {
                mode: access_mode::Mode::SingleNodeWriter as i32,
            }),
        }
    }

    /// `CreateVolume` (`nomad volume create`) with at least `capacity_bytes`.
    pub async fn create_volume(
        &self,
        name: &str,
        capacity_bytes: i64,
    ) -> Result<CsiVolume, CsiHarnessError> {
        let req = pb::CreateVolumeRequest {
            name: name.into(),
            capacity_range: Some(pb::CapacityRange {
                required_bytes: capacity_bytes,
                limit_bytes: 0,
            }),
            volume_capabilities: vec![self.capability()],
            ..Default::default()
        };
        let r = rpc(
            "CreateVolume",
            timed(
                self.timeout,
                self.client.controller.clone().create_volume(req),
            )
            .await,
        )?;
        let v = r.volume.ok_or_else(|| {
            CsiHarnessError::Protocol(
                "CreateVolume returned no volume: Nomad cannot register it".into(),
            )
        })?;
        Ok(CsiVolume {
            id: v.volume_id,
            capacity_bytes: v.capacity_bytes,
            context: v.volume_context,
        })
    }

    /// `DeleteVolume` (`nomad volume delete`).
    pub async fn delete_volume(&self, volume: &CsiVolume) -> Result<(), CsiHarnessError> {
        let req = pb::DeleteVolumeRequest {
            volume_id: volume.id.clone(),
            ..Default::default()
        };
        rpc(
            "DeleteVolume",
            timed(
                self.timeout,
                self.client.controller.clone().delete_volume(req),
            )
            .await,
        )
        .map(|_| ())
    }

    /// What Nomad does before a task that claims the volume starts:
    /// `ControllerPublishVolume` (if the controller publishes),
    /// `NodeStageVolume` at the staging path (if the node stages), then
    /// `NodePublishVolume` at the allocation's target path, which it
    /// returns (the path Nomad bind-mounts into the task).
    pub async fn publish(
        &self,
        volume: &CsiVolume,
        alloc_id: &str,
    ) -> Result<PathBuf, CsiHarnessError> {
        let mut publish_context = HashMap::new();
        if self.controller_publishes {
            let req = pb::ControllerPublishVolumeRequest {
                volume_id: volume.id.clone(),
                node_id: self.node_id.clone(),
                volume_capability: Some(self.capability()),
                readonly: self.usage.read_only,
                volume_context: volume.context.clone(),
                ..Default::default()
            };
            let r = rpc(
                "ControllerPublishVolume",
                timed(
                    self.timeout,
                    self.client
                        .controller
                        .clone()
                        .controller_publish_volume(req),
                )
                .await,
            )?;
            publish_context = r.publish_context;
        }
        let staging = staging_path(&self.root, "default", &volume.id, &self.usage);
        if self.node_stages {
            mkdir(&staging)?;
            let req = pb::NodeStageVolumeRequest {
                volume_id: volume.id.clone(),
                publish_context: publish_context.clone(),
                staging_target_path: staging.display().to_string(),
                volume_capability: Some(self.capability()),
                volume_context: volume.context.clone(),
                ..Default::default()
            };
            rpc(
                "NodeStageVolume",
                timed(
                    self.timeout,
                    self.client.node.clone().node_stage_volume(req),
                )
                .await,
            )?;
            self.remember(staging.clone());
        }
        let target = target_path(&self.root, alloc_id, &volume.id, &self.usage);
        if let Some(parent) = target.parent() {
            mkdir(parent)?;
        }
        let req = pb::NodePublishVolumeRequest {
            volume_id: volume.id.clone(),
            publish_context,
            staging_target_path: if self.node_stages {
                staging.display().to_string()
            } else {
                String::new()
            },
            target_path: target.display().to_string(),
            volume_capability: Some(self.capability()),
            readonly: self.usage.read_only,
            volume_context: volume.context.clone(),
            ..Default::default()
        };
        rpc(
            "NodePublishVolume",
            timed(
                self.timeout,
                self.client.node.clone().node_publish_volume(req),
            )
            .await,
        )?;
        self.remember(target.clone());
        if !target.exists() {
            return Err(CsiHarnessError::Protocol(format!(
                "NodePublishVolume succeeded but {} does not exist: Nomad would bind an empty path into the task",
                target.display()
            )));
        }
        Ok(target)
    }

    /// What Nomad does after the allocation stops: `NodeUnpublishVolume`,
    /// `NodeUnstageVolume` (if the node stages), `ControllerUnpublishVolume`
    /// (if the controller publishes).
    pub async fn unpublish(
        &self,
        volume: &CsiVolume,
        alloc_id: &str,
    ) -> Result<(), CsiHarnessError> {
        let target = target_path(&self.root, alloc_id, &volume.id, &self.usage);
        rpc(
            "NodeUnpublishVolume",
            timed(
                self.timeout,
                self.client
                    .node
                    .clone()
                    .node_unpublish_volume(pb::NodeUnpublishVolumeRequest {
                        volume_id: volume.id.clone(),
                        target_path: target.display().to_string(),
                    }),
            )
            .await,
        )?;
        self.forget(&target);
        if self.node_stages {
            let staging = staging_path(&self.root, "default", &volume.id, &self.usage);
            rpc(
                "NodeUnstageVolume",
                timed(
                    self.timeout,
                    self.client
                        .node
                        .clone()
                        .node_unstage_volume(pb::NodeUnstageVolumeRequest {
                            volume_id: volume.id.clone(),
                            staging_target_path: staging.display().to_string(),
                        }),
                )
                .await,
            )?;
            self.forget(&staging);
        }
        if self.controller_publishes {
            rpc(
                "ControllerUnpublishVolume",
                timed(
                    self.timeout,
                    self.client.controller.clone().controller_unpublish_volume(
                        pb::ControllerUnpublishVolumeRequest {
                            volume_id: volume.id.clone(),
                            node_id: self.node_id.clone(),
                            ..Default::default()
                        },
                    ),
                )
                .await,
            )?;
        }
        Ok(())
    }

    fn remember(&self, path: PathBuf) {
        if let Ok(mut m) = self.mounted.lock() {
            m.push(path);
        }
    }

    fn forget(&self, path: &Path) {
        if let Ok(mut m) = self.mounted.lock() {
            m.retain(|p| p != path);
        }
    }

    /// Stops the plugin as Nomad stops its task (SIGTERM, then SIGKILL
    /// after 10 s); fails if it needed the SIGKILL.
    pub async fn shutdown(mut self) -> Result<(), CsiHarnessError> {
        let Some(process) = self.process.take() else {
            return Ok(());
        };
        let stopped = process
            .stop(Duration::from_secs(10))
            .await
            .map_err(|e| CsiHarnessError::Protocol(format!("stopping the plugin: {e}")))?;
        if stopped.status.is_none() {
            return Err(CsiHarnessError::Protocol(
                "the plugin did not exit within 10 s of SIGTERM and was killed".into(),
            ));
        }
        Ok(())
    }
}

impl Drop for CsiHarness {
    fn drop(&mut self) {
        let left = self.mounted.lock().map(|m| m.clone()).unwrap_or_default();
        for path in left.iter().rev() {
            if let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) {
                // SAFETY: a valid NUL-terminated path; failure (not mounted) is fine.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

//! The CSI suite against the reference host-path plugin (a real binary,
//! started as Nomad starts a csi_plugin task), against deliberately broken
//! plugins, and the host-path plugin's promise that a restart loses
//! nothing.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nomad_plugin_proto::csi as pb;
use nomad_plugin_testkit::csi::{
    run_suite, staging_path, target_path, CsiClient, CsiLaunch, CsiLaunchError, CsiPluginProcess,
    ProbeOptions, SuiteOptions, Usage,
};
use nomad_plugin_testkit::report::CheckStatus;

const GRACE: Duration = Duration::from_secs(20);

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("csi-suite-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn hostpath() -> PathBuf {
    support::bin("csi-hostpath", "csi-hostpath")
}

async fn start_hostpath(data: &Path) -> CsiPluginProcess {
    CsiLaunch::new(hostpath())
        .args(["--node-id", "testkit-node", "--capacity", "1099511627776"])
        .arg("--data-dir")
        .arg(data)
        .env("CSI_LOG_LEVEL", "debug")
        .probe(ProbeOptions {
            interval: Duration::from_millis(500),
            ..ProbeOptions::default()
        })
        .start()
        .await
        .expect("start csi-hostpath")
}

async fn stop(plugin: CsiPluginProcess) -> String {
    let socket = plugin.socket().to_path_buf();
    let stopped = plugin.stop(GRACE).await.expect("stop plugin");
    let status = stopped
        .status
        .expect("the plugin exits on SIGTERM within the grace period");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(!socket.exists(), "the plugin removes its socket on exit");
    stopped.output
}

#[tokio::test(flavor = "multi_thread")]
async fn hostpath_passes_the_suite() {
    let dir = scratch("pass");
    let plugin = start_hostpath(&dir.join("data")).await;
    let client = plugin.client().await.expect("connect");
    let report = run_suite(
        &client,
        "csi-hostpath",
        &SuiteOptions::new(dir.join("mounts")),
    )
    .await;
    println!("{report}");
    report.assert_passed();
    // The interesting parts ran, not just the skips.
    for check in [
        "identity.plugin_info",
        "controller.capabilities",
        "node.info",
        "controller.create_volume_idempotent",
        "controller.create_volume_conflict",
        "controller.validate_capabilities",
        "controller.publish_idempotent",
        "node.stage_idempotent",
        "node.publish_writable",
        "node.volume_stats",
        "node.unpublish",
        "node.unstage",
        "controller.list_volumes",
        "controller.list_volumes_bad_token",
        "controller.create_snapshot_idempotent",
        "controller.delete_volume",
        "validation.create_volume_without_name",
    ] {
        assert_eq!(
            report.status(check),
            Some(CheckStatus::Passed),
            "{check} did not pass:\n{report}"
        );
    }
    stop(plugin).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Nomad restarts plugin tasks (upgrades, client restarts). Volumes,
/// snapshots and mounts must survive and every call stay idempotent.
#[tokio::test(flavor = "multi_thread")]
async fn hostpath_restart_loses_nothing() {
    let dir = scratch("restart");
    let data = dir.join("data");
    let mounts = dir.join("mounts");
    let plugin = start_hostpath(&data).await;
    let c = plugin.client().await.expect("connect");
    let cap = pb::VolumeCapability {
        access_type: Some(pb::volume_capability::AccessType::Mount(Default::default())),
        access_mode: Some(pb::volume_capability::AccessMode {
            mode: pb::volume_capability::access_mode::Mode::SingleNodeWriter as i32,
        }),
    };
    let create = pb::CreateVolumeRequest {
        name: "restart-me".into(),
        volume_capabilities: vec![cap.clone()],
        ..Default::default()
    };
    let vol = c
        .controller
        .clone()
        .create_volume(create.clone())
        .await
        .expect("create")
        .into_inner()
        .volume
        .expect("volume");
    let usage = Usage::single_node_writer();
    let staging = staging_path(&mounts, "default", &vol.volume_id, &usage);
    let target = target_path(&mounts, "alloc-1", &vol.volume_id, &usage);
    std::fs::create_dir_all(&staging).expect("staging dir");
    std::fs::create_dir_all(target.parent().expect("parent")).expect("alloc dir");
    let stage = pb::NodeStageVolumeRequest {
        volume_id: vol.volume_id.clone(),
        staging_target_path: staging.display().to_string(),
        volume_capability: Some(cap.clone()),
        ..Default::default()
    };
    let publish = pb::NodePublishVolumeRequest {
        volume_id: vol.volume_id.clone(),
        staging_target_path: staging.display().to_string(),
        target_path: target.display().to_string(),
        volume_capability: Some(cap.clone()),
        ..Default::default()
    };
    c.node
        .clone()
        .node_stage_volume(stage.clone())
        .await
        .expect("stage");
    c.node
        .clone()
        .node_publish_volume(publish.clone())
        .await
        .expect("publish");
    std::fs::write(target.join("data.txt"), b"kept").expect("write through the mount");
    let snap = c
        .controller
        .clone()
        .create_snapshot(pb::CreateSnapshotRequest {
            source_volume_id: vol.volume_id.clone(),
            name: "snap-1".into(),
            ..Default::default()
        })
        .await
        .expect("snapshot")
        .into_inner()
        .snapshot
        .expect("snapshot");
    drop(c);
    stop(plugin).await;

    let plugin = start_hostpath(&data).await;
    let c: CsiClient = plugin.client().await.expect("connect again");
    let again = c
        .controller
        .clone()
        .create_volume(create)
        .await
        .expect("create after restart")
        .into_inner()
        .volume
        .expect("volume");
    assert_eq!(
        again.volume_id, vol.volume_id,
        "same name, same volume after restart"
    );
    c.node
        .clone()
        .node_stage_volume(stage)
        .await
        .expect("stage again");
    c.node
        .clone()
        .node_publish_volume(publish)
        .await
        .expect("publish again");
    assert_eq!(
        std::fs::read(target.join("data.txt")).expect("read"),
        b"kept"
    );
    let got = c
        .controller
        .clone()
        .get_snapshot(pb::GetSnapshotRequest {
            snapshot_id: snap.snapshot_id.clone(),
            ..Default::default()
        })
        .await
        .expect("snapshot survives")
        .into_inner();
    assert_eq!(
        got.snapshot.expect("snapshot").source_volume_id,
        vol.volume_id
    );
    // A volume restored from the snapshot has the data.
    let restored = c
        .controller
        .clone()
        .create_volume(pb::CreateVolumeRequest {
            name: "restored".into(),
            volume_capabilities: vec![cap.clone()],
            volume_content_source: Some(pb::VolumeContentSource {
                r#type: Some(pb::volume_content_source::Type::Snapshot(
                    pb::volume_content_source::SnapshotSource {
                        snapshot_id: snap.snapshot_id.clone(),
                    },
                )),
            }),
            ..Default::default()
        })
        .await
        .expect("restore")
        .into_inner()
        .volume
        .expect("volume");
    assert_eq!(
        std::fs::read(
            data.join("volumes")
                .join(&restored.volume_id)
                .join("data.txt")
        )
        .expect("restored data"),
        b"kept"
    );
    // In use: deleting must be refused, as Nomad expects for claimed volumes.
    let busy = c
        .controller
        .clone()
        .delete_volume(pb::DeleteVolumeRequest {
            volume_id: vol.volume_id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("delete while published");
    assert_eq!(busy.code(), tonic::Code::FailedPrecondition);
    c.node
        .clone()
        .node_unpublish_volume(pb::NodeUnpublishVolumeRequest {
            volume_id: vol.volume_id.clone(),
            target_path: target.display().to_string(),
        })
        .await
        .expect("unpublish");
    assert!(!target.exists(), "target removed");
    c.node
        .clone()
        .node_unstage_volume(pb::NodeUnstageVolumeRequest {
            volume_id: vol.volume_id.clone(),
            staging_target_path: staging.display().to_string(),
        })
        .await
        .expect("unstage");
    for id in [&vol.volume_id, &restored.volume_id] {
        c.controller
            .clone()
            .delete_volume(pb::DeleteVolumeRequest {
                volume_id: id.clone(),
                ..Default::default()
            })
            .await
            .expect("delete");
    }
    drop(c);
    stop(plugin).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_exits_is_reported_with_its_stderr() {
    let err = match CsiLaunch::new(hostpath())
        .args(["--mode", "bogus"])
        .start()
        .await
    {
        Ok(_) => panic!("a plugin with a bad flag must not start"),
        Err(e) => e,
    };
    assert!(matches!(err, CsiLaunchError::Exited { .. }), "{err}");
    assert!(err.to_string().contains("--mode must be"), "{err}");
}

/// A plugin with two bugs Nomad would trip over: an empty plugin name and a
/// publish that never creates the target.
struct Broken {
    name: &'static str,
}

mod broken {
    use super::Broken;
    use nomad_plugin_sdk::csi::*;

    #[async_trait]
    impl Identity for Broken {
        async fn get_plugin_info(&self) -> CsiResult<PluginInfo> {
            Ok(PluginInfo::new(self.name, ""))
        }
    }

    #[async_trait]
    impl Node for Broken {
        async fn node_get_info(&self) -> CsiResult<NodeInfo> {
            Ok(NodeInfo::new("n1"))
        }
        async fn node_publish_volume(&self, _: NodePublishVolumeRequest) -> CsiResult<()> {
            Ok(())
        }
        async fn node_unpublish_volume(&self, _: NodeUnpublishVolumeRequest) -> CsiResult<()> {
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_suite_reports_what_nomad_would_reject() {
    use nomad_plugin_sdk::csi::{bind, CsiPlugin, Endpoint, NodeService, ServeOptions};
    let dir = scratch("broken");
    let socket = dir.join("csi.sock");
    let plugin = Arc::new(Broken { name: "" });
    let csi = CsiPlugin::new(plugin.clone()).node(NodeService::builder(plugin).build());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options =
        ServeOptions::new(Endpoint::parse(&socket.display().to_string()).expect("endpoint"));
    // Bound before serving starts: the client can connect at once.
    let bound = bind(&options).expect("bind");
    let server = tokio::spawn(bound.serve(csi, async {
        let _ = stop_rx.await;
    }));
    let client = CsiClient::connect(&socket).await.expect("connect");
    let mut options = SuiteOptions::new(dir.join("mounts"));
    options.existing_volume_id = Some("pre-made".into());
    let report = run_suite(&client, "broken", &options).await;
    println!("{report}");
    assert!(!report.passed());
    let info = report.check("identity.plugin_info").expect("checked");
    assert_eq!(info.status, CheckStatus::Failed);
    assert!(info.detail.contains("empty name"), "{}", info.detail);
    let publish = report.check("node.publish").expect("checked");
    assert_eq!(publish.status, CheckStatus::Failed);
    assert!(
        publish.detail.contains("must create the target"),
        "{}",
        publish.detail
    );
    // A node-only plugin: controller checks are skipped, not failed.
    assert_eq!(
        report.status("controller.capabilities"),
        Some(CheckStatus::Skipped)
    );
    let _ = stop_tx.send(());
    server.await.expect("join").expect("serve");
    assert!(!socket.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

struct NeverReady;

#[nomad_plugin_sdk::csi::async_trait]
impl nomad_plugin_sdk::csi::Identity for NeverReady {
    async fn get_plugin_info(
        &self,
    ) -> nomad_plugin_sdk::csi::CsiResult<nomad_plugin_sdk::csi::PluginInfo> {
        Ok(nomad_plugin_sdk::csi::PluginInfo::new("never-ready", ""))
    }
    async fn probe(&self) -> nomad_plugin_sdk::csi::CsiResult<bool> {
        Ok(false)
    }
}

/// Nomad gives up on a plugin that never probes ready within
/// health_timeout; so does the testkit's probe loop.
#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_never_gets_ready_is_reported() {
    use nomad_plugin_sdk::csi::{bind, CsiPlugin, Endpoint, ServeOptions};
    use nomad_plugin_testkit::csi::ProbeError;
    let dir = scratch("never-ready");
    let socket = dir.join("csi.sock");
    let options =
        ServeOptions::new(Endpoint::parse(&socket.display().to_string()).expect("endpoint"));
    let bound = bind(&options).expect("bind");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.serve(CsiPlugin::new(Arc::new(NeverReady)), async {
        let _ = stop_rx.await;
    }));
    let client = CsiClient::connect(&socket).await.expect("connect");
    let err = client
        .probe_until_ready(&ProbeOptions {
            health_timeout: Duration::from_secs(1),
            interval: Duration::from_millis(200),
            probe_timeout: Duration::from_secs(5),
        })
        .await
        .expect_err("never ready");
    assert!(matches!(err, ProbeError::NotReady { .. }), "{err}");
    assert!(err.to_string().contains("ready = false"), "{err}");
    let _ = stop_tx.send(());
    server.await.expect("join").expect("serve");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With CSI_LOG_FORMAT=hclog every stderr line is a go-hclog JSON object
/// (string @level, @message, @timestamp), as Nomad's own log tooling reads.
#[tokio::test(flavor = "multi_thread")]
async fn hclog_format_writes_json_lines() {
    let dir = scratch("hclog");
    let plugin = CsiLaunch::new(hostpath())
        .args(["--node-id", "n1", "--capacity", "1048576"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("CSI_LOG_FORMAT", "hclog")
        .probe(ProbeOptions {
            interval: Duration::from_millis(500),
            ..ProbeOptions::default()
        })
        .start()
        .await
        .expect("start");
    let output = stop(plugin).await;
    let mut messages = Vec::new();
    for line in output.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for key in ["@level", "@message", "@timestamp"] {
            assert!(v[key].is_string(), "{key} is not a string in {line}");
        }
        messages.push(v["@message"].as_str().unwrap_or_default().to_string());
    }
    for expected in [
        "CSI plugin listening",
        "SIGTERM received, stopping",
        "CSI plugin stopped",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "no {expected:?} line in:\n{output}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

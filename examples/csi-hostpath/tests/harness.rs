//! The reference CSI plugin through the testkit's CSI harness, as a vendor
//! tests their own plugin: a volume created, published to one allocation,
//! written, unpublished, published to the next allocation with its
//! contents intact, then deleted.

use std::time::Duration;

use nomad_plugin_testkit::csi::{CsiHarness, CsiLaunch, ProbeOptions};

#[tokio::test(flavor = "multi_thread")]
async fn a_volume_keeps_its_contents_between_allocations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let harness = CsiHarness::launch(
        CsiLaunch::new(env!("CARGO_BIN_EXE_csi-hostpath"))
            .args(["--node-id", "harness-node", "--capacity", "1073741824"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .probe(ProbeOptions {
                interval: Duration::from_millis(500),
                ..ProbeOptions::default()
            }),
        dir.path().join("mounts"),
    )
    .await
    .expect("launch and probe");
    assert_eq!(harness.node_id(), "harness-node");
    let info = harness.plugin_info().await.expect("GetPluginInfo");
    assert!(!info.name.is_empty());

    let volume = harness
        .create_volume("web-data", 1 << 20)
        .await
        .expect("CreateVolume");
    assert!(volume.capacity_bytes >= 1 << 20, "{volume:?}");

    let first = harness.publish(&volume, "alloc-1").await.expect("publish");
    std::fs::write(first.join("greeting"), b"hello").expect("write into the volume");
    harness
        .unpublish(&volume, "alloc-1")
        .await
        .expect("unpublish");

    let second = harness
        .publish(&volume, "alloc-2")
        .await
        .expect("publish again");
    assert_eq!(
        std::fs::read(second.join("greeting")).expect("read from the volume"),
        b"hello"
    );
    harness
        .unpublish(&volume, "alloc-2")
        .await
        .expect("unpublish");
    harness.delete_volume(&volume).await.expect("DeleteVolume");
    harness.shutdown().await.expect("stops on SIGTERM");
}

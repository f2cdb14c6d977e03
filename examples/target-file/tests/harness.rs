//! The reference target through the testkit's autoscaler harness, as a
//! vendor tests their own target: status, scale, status again, the file.

use nomad_plugin_sdk::autoscaler::{ConfigMap, ScalingAction, ScalingDirection};
use nomad_plugin_testkit::autoscaler::AutoscalerHarness;

#[tokio::test(flavor = "multi_thread")]
async fn scales_the_count_in_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("count"), "3\n").expect("seed");
    let target = AutoscalerHarness::target(env!("CARGO_BIN_EXE_target-file"))
        .config("base_dir", dir.path().to_str().expect("utf-8"))
        .launch()
        .await
        .expect("loaded as the agent loads it");
    let mut policy = ConfigMap::new();
    policy.insert("path", "count");
    let before = target.status(&policy).await.expect("Status");
    assert!(before.ready);
    assert_eq!(before.count, 3);
    target
        .scale(
            &ScalingAction::scale(5, ScalingDirection::Up, "test: 3 to 5"),
            &policy,
        )
        .await
        .expect("Scale");
    assert_eq!(target.status(&policy).await.expect("Status").count, 5);
    let file = std::fs::read_to_string(dir.path().join("count")).expect("count file");
    assert_eq!(file.trim(), "5");
    target.shutdown().await.expect("graceful shutdown");
}

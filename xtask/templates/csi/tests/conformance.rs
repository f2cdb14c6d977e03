//! Starts the plugin as Nomad starts a `csi_plugin` task and runs the CSI
//! suite: identity, controller and node calls in Nomad's order, with
//! Nomad's staging and publish paths.

use std::time::Duration;

use nomad_plugin_testkit::csi::{run_suite, CsiLaunch, SuiteOptions};

#[tokio::test(flavor = "multi_thread")]
async fn behaves_like_nomad_expects() {
    let scratch = std::env::temp_dir().join(format!("{{name}}-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let plugin = CsiLaunch::new(env!("CARGO_BIN_EXE_{{name}}"))
        .args(["--node-id", "conformance-node", "--data-dir"])
        .arg(scratch.join("data"))
        .start()
        .await
        .expect("the plugin starts and probes ready");
    let client = plugin.client().await.expect("connect to the plugin");
    let report = run_suite(
        &client,
        "{{name}}",
        &SuiteOptions::new(scratch.join("mounts")),
    )
    .await;
    println!("{report}");
    drop(client);
    let stopped = plugin
        .stop(Duration::from_secs(20))
        .await
        .expect("stop the plugin");
    let _ = std::fs::remove_dir_all(&scratch);
    report.assert_passed();
    assert!(
        stopped.status.is_some_and(|s| s.success()),
        "the plugin exits cleanly on SIGTERM:\n{}",
        stopped.output
    );
}

//! The reference APM plugin through the testkit's autoscaler harness, as a
//! vendor tests their own plugin: loaded as the agent loads it, queried
//! over the agent's window, a bad query refused with a reason.

use std::time::{Duration, SystemTime};

use nomad_plugin_testkit::autoscaler::{AutoscalerHarness, AutoscalerHarnessError};

#[tokio::test(flavor = "multi_thread")]
async fn answers_queries_over_the_agents_window() {
    let apm = AutoscalerHarness::apm(env!("CARGO_BIN_EXE_apm-procfs"))
        .config("sample_interval", "200ms")
        .launch()
        .await
        .expect("loaded as the agent loads it");
    let window = Duration::from_secs(300);
    let points = apm.query("memory_percent", window).await.expect("Query");
    assert!(!points.is_empty(), "no points");
    let earliest = SystemTime::now() - window - Duration::from_secs(5);
    for p in &points {
        assert!((0.0..=100.0).contains(&p.value), "{p:?}");
        assert!(p.timestamp >= earliest, "{p:?}");
    }
    match apm.query("no_such_metric", window).await {
        Err(AutoscalerHarnessError::Rpc { message, .. }) => {
            assert!(message.contains("no_such_metric"), "{message}")
        }
        other => panic!("a bad query must be refused with a reason: {other:?}"),
    }
    apm.shutdown().await.expect("graceful shutdown");
}

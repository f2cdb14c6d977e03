//! The reference strategy through the testkit's autoscaler harness, as a
//! vendor tests their own strategy: one `Run` per situation.

use nomad_plugin_sdk::autoscaler::ScalingDirection;
use nomad_plugin_testkit::autoscaler::{AutoscalerHarness, StrategyCase};

#[tokio::test(flavor = "multi_thread")]
async fn scales_towards_the_target_value() {
    let strategy = AutoscalerHarness::strategy(env!("CARGO_BIN_EXE_strategy-target-value"))
        .launch()
        .await
        .expect("loaded as the agent loads it");
    let up = strategy
        .run_strategy(&StrategyCase::new("up", 2, vec![5.0, 26.0]).config("target", "13"))
        .await
        .expect("Run");
    assert_eq!(
        (up.direction, up.count),
        (ScalingDirection::Up, 4),
        "{up:?}"
    );
    let down = strategy
        .run_strategy(&StrategyCase::new("down", 10, vec![20.0]).config("target", "40"))
        .await
        .expect("Run");
    assert_eq!((down.direction, down.count), (ScalingDirection::Down, 5));
    assert!(strategy
        .run_strategy(&StrategyCase::new("no_target", 2, vec![1.0]))
        .await
        .is_err());
    strategy.shutdown().await.expect("graceful shutdown");
}

//! Loads the plugin as the autoscaler agent does and runs the strategy suite.

use nomad_plugin_sdk::autoscaler::ScalingDirection;
use nomad_plugin_testkit::autoscaler::{AutoscalerSuite, StrategyCase};

#[tokio::test(flavor = "multi_thread")]
async fn behaves_like_the_autoscaler_expects() {
    let report = AutoscalerSuite::strategy(env!("CARGO_BIN_EXE_{{name}}"))
        .case(
            StrategyCase::new("up", 2, vec![1.0, 5.0])
                .config("upper", "4")
                .expect(ScalingDirection::Up, Some(3)),
        )
        .case(
            StrategyCase::new("down", 2, vec![0.5])
                .config("upper", "4")
                .config("lower", "1")
                .expect(ScalingDirection::Down, Some(1)),
        )
        .case(
            StrategyCase::new("steady", 2, vec![2.0])
                .config("upper", "4")
                .expect(ScalingDirection::None, None),
        )
        .case(StrategyCase::new("no_upper", 2, vec![1.0]).expect_error())
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
}

//! Loads the plugin as the autoscaler agent does and runs the target suite.

use nomad_plugin_testkit::autoscaler::AutoscalerSuite;

#[tokio::test(flavor = "multi_thread")]
async fn behaves_like_the_autoscaler_expects() {
    let report = AutoscalerSuite::target(env!("CARGO_BIN_EXE_{{name}}"))
        .scale_by(2)
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
}

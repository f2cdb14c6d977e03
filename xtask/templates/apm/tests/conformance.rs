//! Loads the plugin as the autoscaler agent does and runs the APM suite.

use nomad_plugin_testkit::autoscaler::AutoscalerSuite;

#[tokio::test(flavor = "multi_thread")]
async fn behaves_like_the_autoscaler_expects() {
    let report = AutoscalerSuite::apm(env!("CARGO_BIN_EXE_{{name}}"))
        .query("3.5")
        .bad_query("not a number")
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
}

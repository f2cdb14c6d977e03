//! Loads the plugin as a Nomad client does and runs the device suite.

use nomad_plugin_testkit::device::DeviceSuite;

#[tokio::test(flavor = "multi_thread")]
async fn behaves_like_nomad_expects() {
    let report = DeviceSuite::new(env!("CARGO_BIN_EXE_{{name}}"))
        .config(r#"model = "deluxe""#)
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
}

//! Loads the plugin as a Nomad client does and runs the driver suite.

use nomad_plugin_testkit::driver::{DriverSuite, GROUPS};

#[tokio::test(flavor = "multi_thread")]
async fn behaves_like_nomad_expects() {
    // Every group but `recover`: it SIGKILLs the plugin with a task running
    // and expects a new plugin process to report the task's real exit code
    // afterwards, which needs a supervisor process between plugin and task
    // (see the README). This driver refuses RecoverTask instead, so Nomad
    // starts such a task again. Checks for `exec` are kept: the suite
    // verifies that a driver without the capability refuses it.
    let groups = GROUPS.iter().copied().filter(|g| *g != "recover");
    let report = DriverSuite::new(env!("CARGO_BIN_EXE_{{name}}"))
        .plugin_config_hcl(r#"default_signal = "SIGTERM""#)
        .only(groups)
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
}

//! The testkit's driver conformance suite against rsexec: everything a
//! Nomad client does with a driver, including recovery after `kill -9` of
//! the plugin with a task still running.

use nomad_plugin_testkit::driver::DriverSuite;

#[tokio::test]
async fn rsexec_passes_the_driver_suite() {
    let state = std::env::temp_dir().join(format!("rsexec-suite-{}", std::process::id()));
    let report = DriverSuite::new(env!("CARGO_BIN_EXE_rsexec"))
        .plugin_config_hcl(format!("state_dir = {:?}\n", state.display().to_string()))
        .run()
        .await;
    println!("{report}");
    let _ = std::fs::remove_dir_all(&state);
    report.assert_passed();
    assert!(
        report
            .checks
            .iter()
            .all(|c| c.status != nomad_plugin_testkit::report::CheckStatus::Skipped
                || c.name.starts_with("isolation.")),
        "rsexec supports everything the suite checks but chroot isolation (fs_isolation = NONE):\n{report}"
    );
}

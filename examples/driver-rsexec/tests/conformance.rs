//! The testkit's driver conformance suite against rsexec: everything a
//! Nomad client does with a driver, including recovery after `kill -9` of
//! the plugin with a task still running.

use nomad_plugin_testkit::driver::DriverSuite;

#[tokio::test]
async fn rsexec_passes_the_driver_suite() {
    let state = std::env::temp_dir().join(format!("rsexec-suite-{}", std::process::id()));
    let parent = format!("rsexec-suite-{}", std::process::id());
    let report = DriverSuite::new(env!("CARGO_BIN_EXE_rsexec"))
        .plugin_config_hcl(format!(
            "state_dir = {:?}\ncgroup_parent = {parent:?}\n",
            state.display().to_string()
        ))
        .run()
        .await;
    println!("{report}");
    let _ = std::fs::remove_dir_all(&state);
    remove_parent_cgroups(&parent);
    report.assert_passed();
    assert!(
        report
            .checks
            .iter()
            .all(|c| c.status != nomad_plugin_testkit::report::CheckStatus::Skipped
                || c.name.starts_with("isolation.")),
        "rsexec supports everything the suite checks but chroot isolation (fs_isolation = NONE):\n{report}"
    );
    // Details are sentences for a reviewer, not Rust's Debug output.
    for c in &report.checks {
        for debugish in ["Some(", "None,", " { ", "TaskResourceUsage", "ExitResult"] {
            assert!(
                !c.detail.contains(debugish),
                "{}: {:?} in {:?}",
                c.name,
                debugish,
                c.detail
            );
        }
    }
}

/// Removes the (empty) parent cgroups the driver's tasks used, in every
/// hierarchy; best effort, a parent still in use stays.
fn remove_parent_cgroups(parent: &str) {
    for entry in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(entry.path().join(parent));
    }
    let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/{parent}.slice"));
}

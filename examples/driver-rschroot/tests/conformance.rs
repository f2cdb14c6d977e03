//! The testkit's whole driver suite against rschroot (fs_isolation =
//! CHROOT): recovery, limits and the isolation checks included. Needs root
//! and cgroups, like Nomad's exec driver; says so and skips otherwise.

use nomad_plugin_testkit::driver::DriverSuite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rschroot_passes_the_driver_suite() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: rschroot needs root (namespaces, chroot, cgroups)");
        return;
    }
    let state = std::env::temp_dir().join(format!("rschroot-suite-{}", std::process::id()));
    let report = DriverSuite::new(env!("CARGO_BIN_EXE_rschroot"))
        .plugin_config_hcl(format!("state_dir = {:?}\n", state.display().to_string()))
        .run()
        .await;
    println!("{report}");
    let _ = std::fs::remove_dir_all(&state);
    remove_parent_cgroups("rschroot");
    report.assert_passed();
    let skipped: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status == nomad_plugin_testkit::report::CheckStatus::Skipped)
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        skipped.is_empty(),
        "rschroot supports everything the suite checks: {skipped:?}"
    );
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

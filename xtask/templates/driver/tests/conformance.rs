//! Loads the plugin as a Nomad client does and runs the whole driver
//! suite, `recover` (kill -9 of the plugin with a task running) and
//! `limits` (memory, leftovers, stats of the process tree) included.

use nomad_plugin_testkit::driver::DriverSuite;

#[tokio::test(flavor = "multi_thread")]
async fn behaves_like_nomad_expects() {
    let state = std::env::temp_dir().join(format!("{{name}}-suite-{}", std::process::id()));
    let report = DriverSuite::new(env!("CARGO_BIN_EXE_{{name}}"))
        .plugin_config_hcl(format!(
            "default_signal = \"SIGTERM\"\nstate_dir = {:?}\n",
            state.display().to_string()
        ))
        .run()
        .await;
    println!("{report}");
    let _ = std::fs::remove_dir_all(&state);
    remove_parent_cgroups("{{name}}");
    report.assert_passed();
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

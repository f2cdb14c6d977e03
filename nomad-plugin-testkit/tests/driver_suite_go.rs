//! The driver conformance suite against the Go reference driver
//! (`interop/cmd/go-exec-driver`, go-plugin v1.8.0): everything passes, and
//! each deliberate bug the driver can switch on (GO_EXEC_DRIVER_BUGS) makes
//! the check that guards against it fail with Nomad's consequence.

mod support;

use nomad_plugin_testkit::driver::{CheckStatus, DriverSuite, SuiteReport, GROUPS};

fn suite() -> DriverSuite {
    DriverSuite::new(support::go_host("go-exec-driver"))
        .plugin_config_hcl("fingerprint_interval = \"1s\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_exec_driver_passes_the_whole_suite() {
    // All but `limits` (the Go reference driver tracks tasks by process
    // group, without cgroups, like raw_exec: see the test below) and
    // `isolation` (skipped for its fs_isolation = NONE).
    let report = suite()
        .only(
            GROUPS
                .iter()
                .copied()
                .filter(|g| !matches!(*g, "limits" | "isolation")),
        )
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
    // Every group ran for real: nothing the Go driver supports was skipped.
    let skipped: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Skipped)
        .map(|c| c.name.as_str())
        .collect();
    assert!(skipped.is_empty(), "skipped: {skipped:?}");
    for name in [
        "base.plugin_info",
        "base.set_config_twice",
        "base.instance",
        "fingerprint.stream_stays_open",
        "lifecycle.wait_exit_code",
        "stop.timeout_force_kill",
        "destroy.force_running",
        "stats.stream",
        "signal.delivered",
        "exec.exec_task",
        "exec_streaming.tty_resize",
        "exec_streaming.tty_lead_process_only",
        "unknown_task.exec_task_streaming",
        "malformed_config.garbage",
        "events.stream_stays_open",
        "recover.wait_exit_code",
        "reattach.recover_task",
        "reattach.wait_exit_code",
        "reattach.clean_shutdown",
    ] {
        assert_eq!(report.status(name), Some(CheckStatus::Passed), "{name}");
    }
}

/// After an agent restart the Go driver is reattached and answers Init and
/// RecoverTask, but nobody reads its stderr pipe any more, and by default
/// the Go runtime kills a program with SIGPIPE when a write to fd 2 hits a
/// closed pipe: its next hclog line kills it (Nomad then relaunches it and
/// recovers the tasks). The driver normally asks for SIGPIPE to avoid
/// that; `die-on-sigpipe` keeps Go's default, and the reattach group says
/// what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_exec_driver_dies_of_sigpipe_after_an_agent_restart() {
    let r = with_bug("die-on-sigpipe", &["reattach"]).await;
    assert_eq!(
        r.status("reattach.connect"),
        Some(CheckStatus::Passed),
        "{r}"
    );
    assert_failed(&r, "reattach.clean_shutdown", "killed by SIGPIPE");
}

/// Runs `groups` with one deliberate bug switched on.
async fn with_bug(bug: &str, groups: &[&str]) -> SuiteReport {
    let report = suite()
        .plugin_env("GO_EXEC_DRIVER_BUGS", bug)
        .only(groups.iter().copied())
        .run()
        .await;
    println!("bug {bug}:\n{report}");
    report
}

fn assert_failed(report: &SuiteReport, check: &str, words: &str) {
    let c = report
        .check(check)
        .unwrap_or_else(|| panic!("no check {check} in\n{report}"));
    assert_eq!(
        c.status,
        CheckStatus::Failed,
        "{check} should fail:\n{report}"
    );
    assert!(
        c.detail.contains(words),
        "{check}: {:?} does not mention {words:?}",
        c.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nil_agg_resource_usage_is_an_agent_crash() {
    let r = with_bug("nil-stats", &["stats"]).await;
    assert_failed(&r, "stats.stream", "agent crashes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_fingerprint_stream_is_caught() {
    let r = with_bug("close-fingerprint", &[]).await;
    assert_failed(&r, "fingerprint.stream_stays_open", "ended cleanly");
    assert_eq!(
        r.status("fingerprint.healthy"),
        Some(CheckStatus::Passed),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_without_config_is_caught() {
    let r = with_bug("no-handle-config", &["lifecycle"]).await;
    assert_failed(&r, "lifecycle.start", "without config");
    // The rest of the lifecycle still works: only the handle is wrong.
    assert_eq!(
        r.status("lifecycle.wait_exit_code"),
        Some(CheckStatus::Passed),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_without_result_is_a_panic() {
    let r = with_bug("nil-inspect-result", &["lifecycle"]).await;
    assert_failed(
        &r,
        "lifecycle.inspect_running",
        "no `result`: Nomad's client dereferences it and panics",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_without_result_is_a_panic() {
    let r = with_bug("nil-exec-result", &["exec"]).await;
    assert_failed(&r, "exec.exec_task", "panics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_never_kills_is_caught() {
    let r = with_bug("no-force-kill", &["stop"]).await;
    assert_failed(&r, "stop.timeout_force_kill", "never stopped");
    assert_eq!(
        r.status("stop.signal_honoured"),
        Some(CheckStatus::Passed),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_that_does_not_reattach_is_caught() {
    let r = with_bug("no-recover", &["recover"]).await;
    assert_eq!(
        r.status("recover.recover_task"),
        Some(CheckStatus::Passed),
        "{r}"
    );
    assert_failed(&r, "recover.inspect_running", "after RecoverTask");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_tty_resize_fails_the_stty_case() {
    let r = with_bug("tty-no-resize", &["exec_streaming"]).await;
    assert_failed(&r, "exec_streaming.tty_resize", "100 100");
    assert_eq!(
        r.status("exec_streaming.tty_stdin_echo"),
        Some(CheckStatus::Passed),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_that_never_arrives_is_caught() {
    let r = with_bug("ignore-signal", &["signal"]).await;
    assert_failed(&r, "signal.delivered", "never saw the signal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_on_an_unknown_id_is_caught_and_the_suite_goes_on() {
    let r = with_bug("crash-on-unknown", &["unknown_task", "malformed_config"]).await;
    assert_failed(&r, "unknown_task.signal_task", "stopped");
    // The suite relaunched the plugin and checked the rest.
    assert_eq!(
        r.status("unknown_task.exec_task"),
        Some(CheckStatus::Passed),
        "{r}"
    );
    assert_eq!(
        r.status("malformed_config.garbage"),
        Some(CheckStatus::Passed),
        "{r}"
    );
}

/// The Go reference driver has no cgroups: the `limits` group says what
/// that costs a Nomad operator, check by check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_without_cgroups_fails_the_limits_group() {
    let r = suite().only(["limits"]).run().await;
    println!("{r}");
    assert_failed(
        &r,
        "limits.memory_oom_killed",
        "does not enforce the memory limit",
    );
    assert_failed(&r, "limits.stop_destroy_leaves_nothing", "setsid");
    assert_failed(&r, "limits.stats_whole_tree", "holds 64 MiB");
}

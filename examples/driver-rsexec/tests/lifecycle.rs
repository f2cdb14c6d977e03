//! The reference driver through the testkit's driver harness, as a vendor
//! tests their own driver: start, wait, output, exec with a terminal,
//! stats, and recovery after SIGKILL of the plugin and after the agent
//! dies.

use std::time::Duration;

use nomad_plugin_testkit::driver::{DriverHarness, ExecSession, TaskState};

async fn harness(state: &std::path::Path) -> DriverHarness {
    DriverHarness::builder(env!("CARGO_BIN_EXE_rsexec"))
        .config_hcl(format!("state_dir = {:?}\n", state.display().to_string()))
        .patience(Duration::from_secs(60))
        .launch()
        .await
        .expect("launch rsexec as Nomad does")
}

fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("rsexec-test-{name}-"))
        .tempdir()
        .expect("scratch dir")
}

#[tokio::test]
async fn start_wait_exit_code_and_output() {
    let dir = scratch("exit");
    let h = harness(&dir.path().join("state")).await;
    assert_eq!(h.info().name, "rsexec");
    assert!(h.capabilities().exec);
    let task = h
        .task("exit")
        .config_hcl(
            r#"command = "/bin/sh"
args = ["-c", "echo out; echo err >&2; echo $GREETING > $NOMAD_ALLOC_DIR/data/greeting; exit 3"]"#,
        )
        .env("GREETING", "hello")
        .start()
        .await
        .expect("StartTask");
    let exit = h.wait(&task).await.expect("WaitTask");
    assert_eq!(exit.exit_code, 3, "{exit}");
    task.wait_for_stdout("out\n").await.expect("stdout");
    task.wait_for_stderr("err\n").await.expect("stderr");
    assert_eq!(
        task.read_file("alloc/data/greeting").expect("file"),
        b"hello\n"
    );
    assert_eq!(
        h.inspect(&task).await.expect("InspectTask").state,
        TaskState::Exited
    );
    h.destroy(&task).await.expect("DestroyTask");
    let gone = h.wait(&task).await.expect_err("destroyed task is gone");
    assert_eq!(gone.code(), Some("NotFound"), "{gone}");
    h.shutdown().await.expect("graceful shutdown");
}

#[tokio::test]
async fn exec_with_a_terminal_and_stats() {
    let dir = scratch("exec");
    let h = harness(&dir.path().join("state")).await;
    let task = h
        .task("exec")
        .config_hcl(
            r#"command = "/bin/sh"
args = ["-c", "echo ready; while :; do sleep 0.1; done"]"#,
        )
        .start()
        .await
        .expect("StartTask");
    task.wait_for_stdout("ready").await.expect("ready");
    let out = h
        .exec_streaming(
            &task,
            &ExecSession::new(["/bin/sh", "-c", "tty > /dev/null && echo on-a-tty; exit 4"]).tty(),
        )
        .await
        .expect("exec -t");
    assert_eq!(
        (out.exit_code, out.stdout_text()),
        (4, "on-a-tty\r\n".into())
    );
    let mut stats = h
        .stats(&task, Duration::from_millis(200))
        .await
        .expect("TaskStats");
    let first = stats.next().await.expect("a stats message");
    assert!(
        first.memory.as_ref().is_some_and(|m| m.rss > 0),
        "{first:?}"
    );
    drop(stats);
    h.destroy(&task).await.expect("DestroyTask");
    assert!(task.processes().is_empty(), "{:?}", task.processes());
    h.shutdown().await.expect("graceful shutdown");
}

#[tokio::test]
async fn recovers_a_running_task_after_sigkill_and_after_an_agent_restart() {
    let dir = scratch("recover");
    let mut h = harness(&dir.path().join("state")).await;
    let task = h
        .task("sleeper")
        .config_hcl(
            r#"command = "/bin/sh"
args = ["-c", "echo ready; while [ ! -e $NOMAD_ALLOC_DIR/go ]; do sleep 0.05; done; exit 7"]"#,
        )
        .start()
        .await
        .expect("StartTask");
    task.wait_for_stdout("ready").await.expect("ready");

    // kill -9 the plugin: the task must survive it and be recovered.
    h.kill_plugin().await.expect("SIGKILL");
    h.relaunch().await.expect("relaunch");
    h.recover(&task).await.expect("RecoverTask");
    assert_eq!(
        h.wait_running(&task).await.expect("running").state,
        TaskState::Running
    );

    // The agent dies and comes back: it reattaches, recovers again.
    let before = h.reattach_config().expect("reattach config");
    h.restart_agent().await.expect("reattach");
    assert_eq!(h.reattach_config().expect("reattach config"), before);
    h.recover(&task).await.expect("RecoverTask after reattach");

    std::fs::write(task.alloc_dir().join("alloc/go"), b"").expect("release the task");
    let exit = h.wait(&task).await.expect("WaitTask");
    assert_eq!(exit.exit_code, 7, "{exit}");
    h.destroy(&task).await.expect("DestroyTask");
    h.shutdown().await.expect("graceful shutdown");
}

//! Attach mode: a plugin started by the test itself with
//! `NOMAD_PLUGIN_ATTACH=1` (as a developer starts one under a debugger),
//! then `nomad-plugin-testkit check|launch --attach ADDR,PID` against it.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// The started plugin and the `ADDR,PID` it printed.
fn start_attached() -> (Child, String) {
    let mut child = Command::new(support::bin("driver-rsexec", "rsexec"))
        .env("NOMAD_PLUGIN_ATTACH", "1")
        .env_remove("NOMAD_PLUGIN_MAGIC_COOKIE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rsexec by hand");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let attach = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rsexec ended its stderr without printing how to attach");
        };
        if let Some(spec) = line
            .trim()
            .strip_prefix("attach with: nomad-plugin-testkit check PLUGIN_BIN --attach ")
        {
            break spec.to_string();
        }
    };
    // Keep draining stderr so the plugin never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, attach)
}

/// Stops the plugin the way its developer would (SIGTERM) and reaps it.
fn stop(mut child: Child) {
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("reap rsexec");
    assert!(
        status.success(),
        "rsexec exits cleanly on SIGTERM: {status}"
    );
}

#[test]
fn check_and_launch_attach_to_a_plugin_started_by_hand() {
    let (mut child, attach) = start_attached();
    let bin = support::bin("driver-rsexec", "rsexec");
    let out = Command::new(env!("CARGO_BIN_EXE_nomad-plugin-testkit"))
        .args([
            "check".as_ref(),
            bin.as_os_str(),
            "--attach".as_ref(),
            attach.as_ref() as &std::ffi::OsStr,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run check --attach");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(stdout.contains("PASS base.launch"), "{text}");
    assert!(
        stdout.contains("SKIP recover.setup") && stdout.contains("does not SIGKILL it"),
        "{text}"
    );
    assert!(
        child.try_wait().expect("poll rsexec").is_none(),
        "the suite stopped the plugin it attached to:\n{text}"
    );

    let mut repl = Command::new(env!("CARGO_BIN_EXE_nomad-plugin-testkit"))
        .args([
            "launch".as_ref(),
            bin.as_os_str(),
            "--attach".as_ref(),
            attach.as_ref() as &std::ffi::OsStr,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run launch --attach");
    repl.stdin
        .take()
        .expect("stdin")
        .write_all(b"info\nexit\n")
        .expect("type into the REPL");
    let out = repl.wait_with_output().expect("REPL ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("name \"rsexec\""), "{stdout}");
    assert!(
        child.try_wait().expect("poll rsexec").is_none(),
        "the REPL stopped the plugin it attached to"
    );
    stop(child);
}

#[test]
fn attach_to_nothing_is_a_clear_error() {
    let bin = support::bin("driver-rsexec", "rsexec");
    let out = Command::new(env!("CARGO_BIN_EXE_nomad-plugin-testkit"))
        .args([
            "check".as_ref(),
            bin.as_os_str(),
            "--attach".as_ref(),
            "/nonexistent/plugin.sock,1".as_ref() as &std::ffi::OsStr,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run check --attach");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot attach"), "{stderr}");
    let bad = Command::new(env!("CARGO_BIN_EXE_nomad-plugin-testkit"))
        .args([
            "check".as_ref(),
            bin.as_os_str(),
            "--attach".as_ref(),
            "no-pid".as_ref() as &std::ffi::OsStr,
        ])
        .output()
        .expect("run check --attach");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("expected ADDR,PID"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

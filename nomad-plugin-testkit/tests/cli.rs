//! The `nomad-plugin-testkit` binary against real plugins: the Go exec
//! driver (go-plugin v1.8.0) and the rsexec reference driver pass with exit
//! status 0 and a JUnit file; a failing plugin exits 1; bad usage exits 2.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn cli(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nomad-plugin-testkit"))
        .args(args)
        .output()
        .expect("run nomad-plugin-testkit")
}

/// Runs `check` on `plugin` with JUnit and Markdown output; returns the
/// output and both documents.
fn check(plugin: &Path, extra: &[&str]) -> (Output, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("junit.xml");
    let md = dir.path().join("report.md");
    let mut args: Vec<&std::ffi::OsStr> = vec!["check".as_ref(), plugin.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.extend([
        "--junit".as_ref(),
        junit.as_os_str(),
        "--markdown".as_ref(),
        md.as_os_str(),
    ]);
    let out = cli(&args);
    let junit = std::fs::read_to_string(&junit).unwrap_or_default();
    let md = std::fs::read_to_string(&md).unwrap_or_default();
    (out, junit, md)
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_certified(out: &Output, junit: &str, md: &str) {
    assert_eq!(out.status.code(), Some(0), "{}", show(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("running the driver suite"),
        "kind not detected as driver: {}",
        show(out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PASSED: "));
    assert!(junit.starts_with("<?xml"), "junit: {junit}");
    assert!(junit.contains("failures=\"0\""), "junit: {junit}");
    assert!(
        junit.contains("name=\"base.plugin_info\""),
        "junit: {junit}"
    );
    assert!(junit.contains("name=\"lifecycle.wait_exit_code\""));
    assert!(!junit.contains("<failure"));
    assert!(md.contains("**PASSED**"), "markdown: {md}");
}

#[test]
fn check_certifies_the_go_exec_driver() {
    let plugin = support::go_host("go-exec-driver");
    let (out, junit, md) = check(&plugin, &[]);
    assert_certified(&out, &junit, &md);
}

#[test]
fn check_certifies_rsexec() {
    let plugin = support::bin("driver-rsexec", "rsexec");
    let (out, junit, md) = check(&plugin, &[]);
    assert_certified(&out, &junit, &md);
}

#[test]
fn a_failing_plugin_exits_1_with_failures_in_junit() {
    // The files provider's default root does not exist in the test's
    // environment, so fetching a present secret fails.
    let plugin = support::bin("secret-provider-files", "secret-provider-files");
    let (out, junit, md) = check(&plugin, &["--kind", "secrets"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(junit.contains("<failure message="), "junit: {junit}");
    assert!(!junit.contains("failures=\"0\""), "junit: {junit}");
    assert!(md.contains("**FAILED**"), "markdown: {md}");
}

#[test]
fn bad_usage_exits_2() {
    let out = cli(&[
        "check".as_ref(),
        "x".as_ref(),
        "--kind".as_ref(),
        "bogus".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown plugin kind"));
    let out = cli(&["check".as_ref()]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

//! The `nomad-plugin-testkit` binary against real plugins: the Go exec
//! driver (go-plugin v1.8.0), the rsexec reference driver and the
//! csi-hostpath reference CSI plugin pass with exit status 0, a JUnit file
//! and a verification report in Markdown and HTML; a failing plugin exits
//! 1; bad usage exits 2.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn cli(args: &[&std::ffi::OsStr]) -> Output {
    cli_env(args, &[])
}

/// Runs the CLI with extra environment (which the plugins it launches
/// inherit, as from a Nomad agent).
fn cli_env(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nomad-plugin-testkit"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run nomad-plugin-testkit")
}

/// What one `check` run left behind.
struct Run {
    out: Output,
    junit: String,
    md: String,
    report_md: String,
    report_html: String,
}

/// Runs `check` on `plugin` with JUnit, Markdown and both verification
/// reports; `extra` goes before `plugin_args` (which follow `--`).
fn check_with(plugin: &Path, extra: &[&str], plugin_args: &[&std::ffi::OsStr]) -> Run {
    check_env(plugin, extra, plugin_args, &[])
}

/// [`check_with`], with extra environment for the CLI and the plugin.
fn check_env(
    plugin: &Path,
    extra: &[&str],
    plugin_args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("junit.xml");
    let md = dir.path().join("summary.md");
    let report_md = dir.path().join("report.md");
    let report_html = dir.path().join("report.html");
    let mut args: Vec<&std::ffi::OsStr> = vec!["check".as_ref(), plugin.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.extend([
        "--junit".as_ref(),
        junit.as_os_str(),
        "--markdown".as_ref(),
        md.as_os_str(),
        "--report".as_ref(),
        report_md.as_os_str(),
        "--report".as_ref(),
        report_html.as_os_str(),
    ]);
    if !plugin_args.is_empty() {
        args.push("--".as_ref());
        args.extend(plugin_args);
    }
    let out = cli_env(&args, env);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Run {
        junit: read(&junit),
        md: read(&md),
        report_md: read(&report_md),
        report_html: read(&report_html),
        out,
    }
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

/// The names of the JUnit file's test cases: every check that ran.
fn junit_checks(junit: &str) -> Vec<String> {
    junit
        .split("<testcase ")
        .skip(1)
        .filter_map(|t| {
            let rest = &t[t.find(" name=\"")? + 7..];
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

/// Every opened HTML element is closed, in order (void elements aside),
/// and no raw `<` or `>` is left in text: what a browser needs to show the
/// tables as the report meant them.
fn assert_balanced_html(html: &str) {
    const VOID: [&str; 3] = ["!DOCTYPE", "meta", "br"];
    let mut open: Vec<String> = Vec::new();
    for piece in html.split('<').skip(1) {
        let end = piece
            .find('>')
            .unwrap_or_else(|| panic!("unclosed tag at {piece:?}"));
        let (tag, text) = (&piece[..end], &piece[end + 1..]);
        assert!(!text.contains('>'), "raw > in text: {text:?}");
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        if VOID.contains(&name.as_str()) {
            continue;
        }
        if tag.starts_with('/') {
            assert_eq!(
                open.pop().as_deref(),
                Some(name.as_str()),
                "misnested at <{tag}>"
            );
        } else {
            open.push(name);
        }
    }
    assert!(open.is_empty(), "never closed: {open:?}");
    assert_eq!(
        html.matches("<table>").count(),
        html.matches("</table>").count()
    );
    assert_eq!(html.matches("<tr").count(), html.matches("</tr>").count());
}

/// What every verification report must say: the plugin's name and version,
/// the schema rows, every check (from the JUnit file) with its time, the
/// versions and the machine.
fn assert_reports(run: &Run, name: &str, version: &str, schema: &[&str], protocol: &str) {
    let (md, html) = (&run.report_md, &run.report_html);
    assert!(md.starts_with("# Verification report: "), "markdown: {md}");
    assert!(md.contains(&format!("| Name | {name} |")), "markdown: {md}");
    assert!(
        md.contains(&format!("| Version | {version} |")),
        "markdown: {md}"
    );
    assert!(
        html.contains(&format!("<th scope=\"row\">Name</th><td>{name}</td>")),
        "html: {html}"
    );
    assert!(html.contains(&format!("<th scope=\"row\">Version</th><td>{version}</td>")));
    for row in schema {
        assert!(
            md.contains(&format!("| `{row}` |")),
            "schema row {row} missing: {md}"
        );
        assert!(
            html.contains(&format!("<td><code>{row}</code></td>")),
            "schema row {row}: {html}"
        );
    }
    let checks = junit_checks(&run.junit);
    assert!(checks.len() > 5, "junit: {}", run.junit);
    for c in &checks {
        assert!(
            md.contains(&format!("| `{c}` | ")),
            "check {c} missing: {md}"
        );
        assert!(
            html.contains(&format!("<td><code>{c}</code></td><td class=\"time\">")),
            "check {c}: {html}"
        );
    }
    for needle in [
        protocol,
        "| Testkit | nomad-plugin-testkit ",
        "| Architecture | ",
        "| CPUs | ",
        "| Date (UTC) | ",
    ] {
        assert!(md.contains(needle), "{needle} missing: {md}");
    }
    assert!(html.contains("<th scope=\"row\">Kernel</th>"));
    assert_balanced_html(html);
    assert!(!html.contains("<script"));
}

/// Each check was printed as it ended, with its time.
fn assert_live_progress(out: &Output, junit: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    for c in junit_checks(junit) {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("[testkit] ") && l.contains(&format!(" {c} ("))),
            "no progress line for {c}: {}",
            show(out)
        );
    }
}

#[test]
fn check_certifies_the_go_exec_driver() {
    let plugin = support::go_host("go-exec-driver");
    // Like raw_exec it enforces no resources (no cgroups), so the `limits`
    // group fails for it by design (tests/driver_suite_go.rs).
    let run = check_with(&plugin, &["--skip", "limits"], &[]);
    assert_certified(&run.out, &run.junit, &run.md);
    assert_live_progress(&run.out, &run.junit);
    assert_reports(
        &run,
        "go-exec",
        "0.1.0",
        &["fingerprint_interval"],
        "| go-plugin protocol | core 1, app 2",
    );
    assert!(run
        .report_md
        .contains("| `fingerprint_interval` | attribute | `string` | no | `\"30s\"` |"));
    assert!(run.report_md.contains("| API versions | v0.1.0 |"));
    // A driver's task config schema too.
    assert!(run.report_md.contains("## Task configuration schema"));
    assert!(run
        .report_md
        .contains("| `command` | attribute | `string` | yes |  |"));
    assert!(run
        .report_md
        .contains("| `args` | attribute | `list(string)` | no |  |"));
}

#[test]
fn a_crashing_go_plugin_is_reported_with_its_last_words() {
    // The Go driver's deliberate bug: SignalTask for an unknown task
    // dereferences nil and the plugin dies with a Go panic on stderr.
    let plugin = support::go_host("go-exec-driver");
    let run = check_env(
        &plugin,
        &["--kind", "driver"],
        &[],
        &[("GO_EXEC_DRIVER_BUGS", "crash-on-unknown")],
    );
    assert_eq!(run.out.status.code(), Some(1), "{}", show(&run.out));
    let stderr = String::from_utf8_lossy(&run.out.stderr);
    assert!(
        stderr.contains("[testkit] FAIL unknown_task.signal_task ("),
        "{}",
        show(&run.out)
    );
    let md = &run.report_md;
    let failure = md
        .split("### `unknown_task.signal_task`")
        .nth(1)
        .unwrap_or_else(|| panic!("no failure section: {md}"));
    let failure = failure.split("\n### ").next().unwrap_or_default();
    assert!(failure.contains("the plugin stopped serving"), "{failure}");
    assert!(
        failure.contains("Plugin log around this check:"),
        "{failure}"
    );
    assert!(failure.contains("panic: runtime error"), "{failure}");
    assert!(run.report_html.contains("panic: runtime error"));
    assert_balanced_html(&run.report_html);
}

#[test]
fn check_certifies_rsexec() {
    let plugin = support::bin("driver-rsexec", "rsexec");
    let run = check_with(&plugin, &[], &[]);
    assert_certified(&run.out, &run.junit, &run.md);
    assert_reports(
        &run,
        "rsexec",
        "0.1.0",
        &["default_signal", "state_dir"],
        "| Nomad plugin API | v0.1.0",
    );
}

#[test]
fn check_certifies_csi_hostpath() {
    let plugin = support::bin("csi-hostpath", "csi-hostpath");
    let data = tempfile::tempdir().expect("temp dir");
    let run = check_with(
        &plugin,
        &["--kind", "csi"],
        &[
            "--node-id".as_ref(),
            "testkit-node".as_ref(),
            "--capacity".as_ref(),
            "1099511627776".as_ref(),
            "--data-dir".as_ref(),
            data.path().as_os_str(),
        ],
    );
    assert_eq!(run.out.status.code(), Some(0), "{}", show(&run.out));
    assert!(run.junit.contains("failures=\"0\""), "junit: {}", run.junit);
    assert!(run.junit.contains("name=\"identity.plugin_info\""));
    assert_live_progress(&run.out, &run.junit);
    assert_reports(
        &run,
        "hostpath.csi.nomad-plugin-rs",
        "0.1.0",
        &[],
        "| CSI spec | v1.12.0 |",
    );
    assert!(
        run.report_md
            .contains("| Capabilities | CONTROLLER\\_SERVICE"),
        "{}",
        run.report_md
    );
}

#[test]
fn a_csi_plugin_that_does_not_start_is_a_failed_check() {
    // /bin/false exits at once without creating CSI_ENDPOINT's socket.
    let run = check_with(Path::new("/bin/false"), &["--kind", "csi"], &[]);
    assert_eq!(run.out.status.code(), Some(1), "{}", show(&run.out));
    assert!(
        run.junit.contains("name=\"launch\""),
        "junit: {}",
        run.junit
    );
    assert!(run.report_md.contains("### `launch`"), "{}", run.report_md);
    assert!(
        run.report_md.contains("the plugin did not start"),
        "{}",
        run.report_md
    );
    assert_balanced_html(&run.report_html);
}

#[test]
fn a_csi_plugin_needs_its_kind() {
    // CSI plugins do not handshake: detection says so and points at --kind.
    let out = cli(&["check".as_ref(), "/bin/true".as_ref()]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--kind csi"),
        "{}",
        show(&out)
    );
}

#[test]
fn a_failing_plugin_exits_1_with_failures_in_junit() {
    // The files provider's default root does not exist in the test's
    // environment, so fetching a present secret fails.
    let plugin = support::bin("secret-provider-files", "secret-provider-files");
    let run = check_with(&plugin, &["--kind", "secrets"], &[]);
    let (out, junit, md) = (&run.out, &run.junit, &run.md);
    assert_eq!(out.status.code(), Some(1), "{}", show(out));
    assert!(junit.contains("<failure message="), "junit: {junit}");
    assert!(!junit.contains("failures=\"0\""), "junit: {junit}");
    assert!(md.contains("**FAILED**"), "markdown: {md}");
    // The verification report lists each failure with its detail.
    assert!(run.report_md.contains("**FAILED**"), "{}", run.report_md);
    assert!(
        run.report_md.contains("## Failures\n\n### `"),
        "{}",
        run.report_md
    );
    assert!(run.report_html.contains("<h2>Failures</h2>"));
    assert_balanced_html(&run.report_html);
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

//! Each suite check is proven able to fail: tiny shell plugins, each broken
//! in one way, must fail exactly the check that guards against it, with a
//! message saying what Nomad would do. A correct shell plugin of each kind
//! passes, so the failures are not the suite's own.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nomad_plugin_testkit::common::{CheckStatus, HostVolumeSuite, SecretsSuite, SuiteReport};

const GOOD_HOST_VOLUME: &str = r#"
op="$1"
p="$DHV_VOLUMES_DIR/$DHV_VOLUME_ID"
case "$op" in
fingerprint) echo '{"version": "0.0.1"}' ;;
create)
  case "$DHV_PARAMETERS" in *bad*) echo '{"error": "parameter bad is not supported"}'; exit 1 ;; esac
  mkdir -p "$p" || exit 1
  echo "{\"path\": \"$p\", \"bytes\": $DHV_CAPACITY_MIN_BYTES}" ;;
delete) rm -rf "$p" ;;
*) exit 1 ;;
esac
"#;

const GOOD_SECRETS: &str = r#"
case "$1" in
fingerprint) echo '{"type": "secrets", "version": "1.0.0"}' ;;
fetch)
  if [ "$2" = "db" ]; then echo '{"result": {"user": "app"}}'
  else echo '{"result": {}, "error": "no secret at this path"}'; fi ;;
*) exit 1 ;;
esac
"#;

/// (case, plugin id, script body)
fn cases() -> Vec<(&'static str, &'static str, String)> {
    let hv = |from: &str, to: &str| {
        assert!(GOOD_HOST_VOLUME.contains(from), "{from}");
        GOOD_HOST_VOLUME.replacen(from, to, 1)
    };
    let sp = |from: &str, to: &str| {
        assert!(GOOD_SECRETS.contains(from), "{from}");
        GOOD_SECRETS.replacen(from, to, 1)
    };
    vec![
        ("hv-good", "dirs", GOOD_HOST_VOLUME.to_owned()),
        ("hv-reserved", "mkdir", GOOD_HOST_VOLUME.to_owned()),
        ("hv-no-version", "dirs", hv(r#"'{"version": "0.0.1"}'"#, r#"'{"Version": null}'"#)),
        ("hv-fp-log-line", "dirs", hv(r#"fingerprint) echo"#, r#"fingerprint) echo starting; echo"#)),
        ("hv-fp-bad-version", "dirs", hv("0.0.1", "one")),
        ("hv-error-exit-0", "dirs", hv(r#"echo "{\"path\""#, r#"echo "{\"error\": \"no space\", \"path\""#)),
        ("hv-null-create", "dirs", hv(r#"echo "{\"path\": \"$p\", \"bytes\": $DHV_CAPACITY_MIN_BYTES}""#, "echo null")),
        ("hv-float-bytes", "dirs", hv(r#"\"bytes\": $DHV_CAPACITY_MIN_BYTES}"#, r#"\"bytes\": 1e3}"#)),
        ("hv-not-idempotent", "dirs", hv(r#"mkdir -p "$p""#, r#"mkdir "$p""#)),
        ("hv-no-growth", "dirs", hv("$DHV_CAPACITY_MIN_BYTES}", "8388608}")),
        ("hv-rm-created-path", "dirs", hv(r#"delete) rm -rf "$p""#, r#"delete) rm -rf "$DHV_CREATED_PATH""#)),
        ("hv-shared-path", "dirs", hv(r#"p="$DHV_VOLUMES_DIR/$DHV_VOLUME_ID""#, r#"p="$DHV_VOLUMES_DIR/shared""#)),
        ("hv-silent-failure", "dirs", hv(r#"echo '{"error": "parameter bad is not supported"}'; exit 1"#, "exit 1")),
        ("hv-accepts-anything", "dirs", hv(r#"*bad*) echo '{"error": "parameter bad is not supported"}'; exit 1 ;;"#, "*bad*) ;;")),
        ("hv-delete-fails", "dirs", hv(r#"delete) rm -rf "$p" ;;"#, r#"delete) echo '{"error": "device busy"}'; exit 1 ;;"#)),
        ("hv-delete-keeps-data", "dirs", hv(r#"delete) rm -rf "$p" ;;"#, "delete) ;;")),
        ("hv-delete-not-idempotent", "dirs", hv(r#"delete) rm -rf "$p" ;;"#, r#"delete) rmdir "$p" ;;"#)),
        ("sp-good", "files", GOOD_SECRETS.to_owned()),
        ("sp-reserved", "vault", GOOD_SECRETS.to_owned()),
        ("sp-fp-stderr", "files", sp(r#"fingerprint) echo"#, r#"fingerprint) echo ready >&2; echo"#)),
        ("sp-fp-null", "files", sp(r#"'{"type": "secrets", "version": "1.0.0"}'"#, "null")),
        ("sp-fp-no-type", "files", sp(r#""type": "secrets", "#, "")),
        ("sp-fetch-stderr", "files", sp(r#"then echo"#, r#"then echo fetched >&2; echo"#)),
        ("sp-fetch-null", "files", sp(r#"then echo '{"result": {"user": "app"}}'"#, "then echo null")),
        ("sp-fetch-empty-error", "files", sp(r#"{"result": {"user": "app"}}"#, r#"{"result": {"user": "app"}, "error": ""}"#)),
        ("sp-fetch-number", "files", sp(r#"{"user": "app"}"#, r#"{"port": 5432}"#)),
        ("sp-fetch-changes", "files", sp(r#"then echo '{"result": {"user": "app"}}'"#, r#"then echo "{\"result\": {\"nonce\": \"$(date +%s%N)\"}}""#)),
        ("sp-missing-exit-1", "files", sp(r#"else echo '{"result": {}, "error": "no secret at this path"}'; fi"#, r#"else echo '{"error": "no secret"}'; exit 1; fi"#)),
        ("sp-missing-empty", "files", sp(r#"else echo '{"result": {}, "error": "no secret at this path"}'; fi"#, r#"else echo '{"result": {}}'; fi"#)),
        ("sp-dash-is-flag", "files", sp("fetch)\n", "fetch)\n  case \"$2\" in -*) echo 'usage: plugin fetch PATH' >&2; exit 2 ;; esac\n")),
    ]
}

/// Writes every script before any test runs a process (see
/// `install_plugin` on ETXTBSY). Returns case → plugin directory and id.
fn plugins() -> &'static BTreeMap<&'static str, (PathBuf, &'static str)> {
    static PLUGINS: OnceLock<BTreeMap<&'static str, (PathBuf, &'static str)>> = OnceLock::new();
    PLUGINS.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("common-suites");
        let _ = std::fs::remove_dir_all(&base);
        cases()
            .into_iter()
            .map(|(case, id, body)| {
                let dir = base.join(case);
                std::fs::create_dir_all(&dir).expect("mkdir");
                let file = dir.join(id);
                let script = format!("#!/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n{body}");
                std::fs::write(&file, script).expect("write script");
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
                (case, (dir, id))
            })
            .collect()
    })
}

const MIB: i64 = 1 << 20;

async fn host_volume(case: &str) -> SuiteReport {
    let (dir, id) = &plugins()[case];
    let volumes = tempfile::tempdir().expect("tempdir");
    let report = HostVolumeSuite::new(dir, id, volumes.path())
        .capacity(8 * MIB, 0)
        .expand_to(16 * MIB)
        .invalid_parameters([("bad", "1")])
        .run()
        .await;
    println!("{case}:\n{report}");
    report
}

async fn secrets(case: &str) -> SuiteReport {
    let (dir, id) = &plugins()[case];
    let report = SecretsSuite::new(dir, id, "db", "nope").run().await;
    println!("{case}:\n{report}");
    report
}

/// `check` failed with a detail containing `nomad_does`; every other check
/// did not fail unless listed in `also`.
fn fails_only(report: &SuiteReport, check: &str, nomad_does: &str, also: &[&str]) {
    let c = report
        .check(check)
        .unwrap_or_else(|| panic!("no check {check}\n{report}"));
    assert_eq!(
        c.status,
        CheckStatus::Failed,
        "{check} should fail\n{report}"
    );
    assert!(
        c.detail.contains(nomad_does),
        "{check}: {:?} should say {nomad_does:?}",
        c.detail
    );
    for other in &report.checks {
        if other.name != check && !also.contains(&other.name.as_str()) {
            assert_ne!(
                other.status,
                CheckStatus::Failed,
                "unexpected failure of {}\n{report}",
                other.name
            );
        }
    }
}

#[tokio::test]
async fn correct_shell_plugins_pass() {
    let hv = host_volume("hv-good").await;
    hv.assert_passed();
    assert!(
        hv.checks.iter().all(|c| c.status == CheckStatus::Passed),
        "{hv}"
    );
    let sp = secrets("sp-good").await;
    sp.assert_passed();
    assert!(
        sp.checks.iter().all(|c| c.status == CheckStatus::Passed),
        "{sp}"
    );
}

#[tokio::test]
async fn host_volume_fingerprint_and_id() {
    fails_only(
        &host_volume("hv-reserved").await,
        "reserved-id",
        "built-in \"mkdir\"",
        &[],
    );
    fails_only(
        &host_volume("hv-no-version").await,
        "fingerprint",
        "crash",
        &[],
    );
    fails_only(
        &host_volume("hv-fp-log-line").await,
        "fingerprint",
        "does not register the plugin",
        &[],
    );
    fails_only(
        &host_volume("hv-fp-bad-version").await,
        "fingerprint",
        "malformed version",
        &[],
    );
}

#[tokio::test]
async fn host_volume_create_results() {
    // Every create of these is wrong, so each create-like check fails.
    let all_creates = [
        "create-again",
        "expand",
        "auto-delete",
        "concurrent-creates",
        "delete",
        "delete-again",
    ];
    let r = host_volume("hv-error-exit-0").await;
    fails_only(&r, "create", "Nomad ignores it", &all_creates);
    let r = host_volume("hv-null-create").await;
    fails_only(&r, "create", "empty host path", &all_creates);
    let r = host_volume("hv-float-bytes").await;
    fails_only(&r, "create", "of type int64", &all_creates);
}

#[tokio::test]
async fn host_volume_idempotency_and_growth() {
    fails_only(
        &host_volume("hv-not-idempotent").await,
        "create-again",
        "every agent start",
        &["expand"],
    );
    fails_only(
        &host_volume("hv-no-growth").await,
        "expand",
        "smaller capacity",
        &[],
    );
}

#[tokio::test]
async fn host_volume_auto_delete_and_concurrency() {
    fails_only(
        &host_volume("hv-rm-created-path").await,
        "auto-delete",
        "removed the whole volumes directory",
        &["delete", "concurrent-creates", "create-failure"],
    );
    fails_only(
        &host_volume("hv-shared-path").await,
        "concurrent-creates",
        "same path",
        &["auto-delete"],
    );
}

#[tokio::test]
async fn host_volume_failures_and_deletes() {
    fails_only(
        &host_volume("hv-silent-failure").await,
        "create-failure",
        "only sees",
        &[],
    );
    fails_only(
        &host_volume("hv-accepts-anything").await,
        "create-failure",
        "exited 0",
        &[],
    );
    fails_only(
        &host_volume("hv-delete-fails").await,
        "delete",
        "device busy",
        &["auto-delete"],
    );
    fails_only(
        &host_volume("hv-delete-keeps-data").await,
        "delete",
        "data remains",
        &["auto-delete"],
    );
    fails_only(
        &host_volume("hv-delete-not-idempotent").await,
        "delete-again",
        "already-deleted",
        &[],
    );
}

#[tokio::test]
async fn secrets_fingerprint_and_id() {
    fails_only(
        &secrets("sp-reserved").await,
        "reserved-id",
        "built-in provider",
        &[],
    );
    fails_only(
        &secrets("sp-fp-stderr").await,
        "fingerprint",
        "nil logger",
        &[],
    );
    fails_only(&secrets("sp-fp-null").await, "fingerprint", "null", &[]);
    fails_only(
        &secrets("sp-fp-no-type").await,
        "fingerprint",
        "silently skips",
        &[],
    );
}

#[tokio::test]
async fn secrets_fetch_results() {
    fails_only(
        &secrets("sp-fetch-stderr").await,
        "fetch",
        "nil logger",
        &[],
    );
    fails_only(
        &secrets("sp-fetch-null").await,
        "fetch",
        "nil response",
        &[],
    );
    fails_only(
        &secrets("sp-fetch-empty-error").await,
        "fetch",
        "response contained error: \"\"",
        &[],
    );
    fails_only(
        &secrets("sp-fetch-number").await,
        "fetch",
        "cannot unmarshal number",
        &[],
    );
    fails_only(
        &secrets("sp-fetch-changes").await,
        "fetch-again",
        "returned something else",
        &[],
    );
}

#[tokio::test]
async fn secrets_failure_reporting() {
    // The "--help" path is missing too, so it also exits 1.
    fails_only(
        &secrets("sp-missing-exit-1").await,
        "fetch-missing",
        "only sees",
        &["fetch-dash-path"],
    );
    fails_only(
        &secrets("sp-missing-empty").await,
        "fetch-missing",
        "starts the task",
        &[],
    );
    fails_only(
        &secrets("sp-dash-is-flag").await,
        "fetch-dash-path",
        "leading dashes",
        &[],
    );
}

//! `nomad-plugin-testkit review` against small secret providers written as
//! shell scripts (Nomad runs exec-based plugins with an empty environment,
//! so they use only `sh` builtins): a passing one gets a complete package
//! and exit 0; a failing one still gets its package, exit 1 and its failed
//! checks listed; a crate without a licence gets exit 1 and a checklist
//! that says so. Each run takes about a second.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A provider whose `testkit` secret exists and every other path is
/// reported missing, as Nomad expects.
const PASSING: &str = r#"#!/bin/sh
case "$1" in
  fingerprint) printf '{"type": "secrets", "version": "0.1.0"}\n' ;;
  fetch)
    if [ "$2" = "testkit" ]; then
      printf '{"result": {"value": "ok"}}\n'
    else
      printf '{"result": {}, "error": "no secret at this path"}\n'
    fi ;;
  *) exit 1 ;;
esac
"#;

/// A provider that cannot find any secret: `fetch` fails.
const FAILING: &str = r#"#!/bin/sh
case "$1" in
  fingerprint) printf '{"type": "secrets", "version": "0.1.0"}\n' ;;
  fetch) printf '{"result": {}, "error": "the store is unreachable"}\n' ;;
  *) exit 1 ;;
esac
"#;

const MPL: &str = include_str!("../../LICENSE");

/// A crate directory with the plugin script and the given files.
struct Crate {
    dir: tempfile::TempDir,
}

impl Crate {
    fn new(script: &str, files: &[(&str, &str)]) -> Crate {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("acme-secrets");
        std::fs::write(&bin, script).expect("write the plugin");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
            .expect("make it executable");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write a crate file");
        }
        Crate { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn plugin(&self) -> PathBuf {
        self.path().join("acme-secrets")
    }
}

/// Runs `review` on the crate's plugin with `--crate` its directory.
fn review(krate: &Crate, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nomad-plugin-testkit"))
        .arg("review")
        .arg(krate.plugin())
        .arg("--out")
        .arg(out)
        .arg("--crate")
        .arg(krate.path())
        .args(["--kind", "secrets"])
        .output()
        .expect("run nomad-plugin-testkit review")
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("the package lacks {name}: {e}"))
}

/// Every file of the package is there and says what it should.
fn assert_complete(out: &Path, sha256: &str) {
    let review = read(out, "REVIEW.md");
    for heading in [
        "## Checklist",
        "## Plugin",
        "## Versions",
        "## Machine",
        "## Files",
    ] {
        assert!(review.contains(heading), "{heading} missing:\n{review}");
    }
    assert!(review.contains("| nomad-plugin-testkit | "), "{review}");
    assert!(
        review.contains("| go-plugin (wire protocol) | v1.8.0 |"),
        "{review}"
    );
    assert!(
        review.contains("| Nomad plugin API (testkit) | v0.1.0 |"),
        "{review}"
    );
    assert!(
        review.contains(&format!("| SHA-256 | `{sha256}` |")),
        "{review}"
    );
    assert!(review.contains("| Kernel | "), "{review}");
    assert!(review.contains("developer.hashicorp.com/nomad/docs/partnerships"));
    assert!(read(out, "report.html").starts_with("<!DOCTYPE html>"));
    assert!(read(out, "report.md").contains("acme-secrets"));
    assert!(read(out, "junit.xml").starts_with("<?xml"));
    let log = read(out, "plugin.log");
    assert!(log.contains("--- fingerprint: Passed"), "{log}");
    assert_eq!(read(out, "SHA256SUMS"), format!("{sha256}  acme-secrets\n"));
}

/// The plugin's SHA-256 by coreutils' `sha256sum`, independently of the
/// testkit's own hashing.
fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum (coreutils) is needed for this test");
    assert!(out.status.success(), "{}", show(&out));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_passing_plugin_gets_a_complete_package() {
    let krate = Crate::new(
        PASSING,
        &[("LICENSE", MPL), ("README.md", "# acme-secrets\n")],
    );
    let out = krate.path().join("review");
    let run = review(&krate, &out);
    assert_eq!(run.status.code(), Some(0), "{}", show(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("READY: review package in"),
        "{}",
        show(&run)
    );
    assert_complete(&out, &sha256(&krate.plugin()));
    let review = read(&out, "REVIEW.md");
    assert!(review.contains("**READY"), "{review}");
    assert!(!review.contains("**FAILED**"), "{review}");
    assert!(
        review.contains("Mozilla Public License 2.0, full text"),
        "{review}"
    );
    assert!(read(&out, "junit.xml").contains("failures=\"0\""));
}

#[test]
fn a_failing_plugin_gets_its_package_exit_1_and_the_failed_checks() {
    let krate = Crate::new(
        FAILING,
        &[("LICENSE", MPL), ("README.md", "# acme-secrets\n")],
    );
    let out = krate.path().join("review");
    let run = review(&krate, &out);
    assert_eq!(run.status.code(), Some(1), "{}", show(&run));
    assert_complete(&out, &sha256(&krate.plugin()));
    let review = read(&out, "REVIEW.md");
    assert!(
        review.contains("**FAILED: a requirement is not met"),
        "{review}"
    );
    let suite_row = review
        .lines()
        .find(|l| l.starts_with("| Acceptance tests"))
        .unwrap_or_else(|| panic!("no suite row:\n{review}"));
    assert!(suite_row.contains("| **FAILED** |"), "{suite_row}");
    assert!(suite_row.contains("failed: fetch"), "{suite_row}");
    // The licence and README rows are still met.
    assert!(review.contains("full text"), "{review}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("REQUIREMENT FAILED: Acceptance tests"),
        "{}",
        show(&run)
    );
    assert!(read(&out, "junit.xml").contains("<failure message="));
}

#[test]
fn a_crate_without_a_licence_is_not_ready() {
    let krate = Crate::new(PASSING, &[("README.md", "# acme-secrets\n")]);
    let out = krate.path().join("review");
    let run = review(&krate, &out);
    assert_eq!(run.status.code(), Some(1), "{}", show(&run));
    let review = read(&out, "REVIEW.md");
    let row = review
        .lines()
        .find(|l| l.starts_with("| MPL-2.0 open source licence"))
        .unwrap_or_else(|| panic!("no licence row:\n{review}"));
    assert!(row.contains("| **FAILED** |"), "{row}");
    assert!(row.contains("no licence file"), "{row}");
    // The suite itself passed: only the licence is missing.
    let suite_row = review
        .lines()
        .find(|l| l.starts_with("| Acceptance tests"))
        .unwrap_or_else(|| panic!("no suite row:\n{review}"));
    assert!(suite_row.contains("| met |"), "{suite_row}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("REQUIREMENT FAILED: MPL-2.0"),
        "{}",
        show(&run)
    );
    assert!(stdout.contains("NOT READY"), "{}", show(&run));
}

#[test]
fn a_missing_plugin_is_a_usage_error_and_writes_nothing() {
    let krate = Crate::new(PASSING, &[]);
    let out = krate.path().join("review");
    let run = Command::new(env!("CARGO_BIN_EXE_nomad-plugin-testkit"))
        .arg("review")
        .arg(krate.path().join("no-such-plugin"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run nomad-plugin-testkit review");
    assert_eq!(run.status.code(), Some(2), "{}", show(&run));
    assert!(
        !out.exists(),
        "nothing is written for a plugin that is not there"
    );
}

//! `review`: the package a vendor sends with an integration review. It
//! runs the same suite as `check` and writes, into one directory, the
//! verification report (HTML and Markdown), JUnit, the plugin's full log,
//! the binary's SHA-256 and a checklist of the Nomad Integration Program's
//! requirements with what was found for each.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use nomad_plugin_sdk::base::PLUGIN_API_VERSION;
use nomad_plugin_testkit::report::{CheckStatus, SuiteReport};
use nomad_plugin_testkit::verification::{Machine, TESTKIT_VERSION};
use sha2::{Digest, Sha256};

/// The Nomad Integration Program's page, which states the requirements.
pub const PROGRAM_URL: &str = "https://developer.hashicorp.com/nomad/docs/partnerships";

/// The go-plugin release whose wire protocol the testkit speaks (the
/// protos of `nomad-plugin-proto` are wire-identical to it).
pub const GO_PLUGIN_VERSION: &str = "v1.8.0";

/// The files of a review package, by name inside `--out`.
pub const FILES: &[&str] = &[
    "REVIEW.md",
    "report.html",
    "report.md",
    "junit.xml",
    "plugin.log",
    "SHA256SUMS",
];

/// How one requirement came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Found as the program asks.
    Met,
    /// Missing or wrong: `review` exits 1.
    Failed,
    /// Worth a reviewer's eye, not a failure.
    Advisory,
    /// A step of the program the testkit cannot check (the vendor's).
    NotChecked,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Failed => "**FAILED**",
            Status::Advisory => "advisory",
            Status::NotChecked => "not checked (your step)",
        }
    }
}

/// One row of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The requirement, in the program's words.
    pub name: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub found: String,
}

/// The names a licence file goes by.
const LICENSE_FILES: &[&str] = &["LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "COPYING"];
/// The names a README goes by.
const README_FILES: &[&str] = &["README.md", "README", "README.txt", "README.rst"];

fn first_file(dir: &Path, names: &[&str]) -> Option<(PathBuf, String)> {
    names.iter().find_map(|n| {
        let p = dir.join(n);
        std::fs::read_to_string(&p).ok().map(|t| (p, t))
    })
}

/// The licence requirement: a licence file holding the full MPL-2.0 text.
pub fn license(crate_dir: Option<&Path>) -> Requirement {
    let name = "MPL-2.0 open source licence (LICENSE file)";
    let Some(dir) = crate_dir else {
        return Requirement {
            name,
            status: Status::Failed,
            found: "no crate directory: pass --crate DIR (the plugin's source) so the licence \
                    and README can be checked"
                .into(),
        };
    };
    let Some((path, text)) = first_file(dir, LICENSE_FILES) else {
        return Requirement {
            name,
            status: Status::Failed,
            found: format!(
                "no licence file in {} (looked for {}); the program requires MPL-2.0: copy the \
                 full text from https://www.mozilla.org/en-US/MPL/2.0/ into LICENSE",
                dir.display(),
                LICENSE_FILES.join(", ")
            ),
        };
    };
    let lower = text.to_ascii_lowercase();
    let mpl2 = lower.contains("mozilla public license") && lower.contains("version 2.0");
    // The full text ends with its two exhibits; a one-line notice is not
    // the licence.
    let full = lower.contains("exhibit a") && lower.contains("exhibit b");
    let (status, found) = match (mpl2, full) {
        (true, true) => (
            Status::Met,
            format!("{}: Mozilla Public License 2.0, full text", path.display()),
        ),
        (true, false) => (
            Status::Failed,
            format!(
                "{} names the Mozilla Public License 2.0 but is not its full text (no exhibits)",
                path.display()
            ),
        ),
        (false, _) => (
            Status::Failed,
            format!(
                "{} is not the Mozilla Public License 2.0 (the program requires MPL-2.0)",
                path.display()
            ),
        ),
    };
    Requirement {
        name,
        status,
        found,
    }
}

/// The documentation requirement: a README that says something.
pub fn readme(crate_dir: Option<&Path>) -> Requirement {
    let name = "Documentation (README)";
    let Some(dir) = crate_dir else {
        return Requirement {
            name,
            status: Status::Failed,
            found: "no crate directory: pass --crate DIR".into(),
        };
    };
    match first_file(dir, README_FILES) {
        Some((path, text)) if !text.trim().is_empty() => Requirement {
            name,
            status: Status::Met,
            found: format!("{} ({} lines)", path.display(), text.lines().count()),
        },
        Some((path, _)) => Requirement {
            name,
            status: Status::Failed,
            found: format!("{} is empty", path.display()),
        },
        None => Requirement {
            name,
            status: Status::Failed,
            found: format!("no README in {}", dir.display()),
        },
    }
}

/// Where users read the plugin's documentation: `documentation`,
/// `homepage` or `repository` of the crate's `Cargo.toml`. Advisory: a
/// crate not yet published has none.
pub fn docs_link(crate_dir: Option<&Path>) -> Requirement {
    let name = "Documentation link (Cargo.toml documentation, homepage or repository)";
    let manifest = crate_dir.and_then(|d| std::fs::read_to_string(d.join("Cargo.toml")).ok());
    let link = manifest.as_deref().and_then(|m| {
        m.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            let key = key.trim();
            if !matches!(key, "documentation" | "homepage" | "repository") {
                return None;
            }
            let value = value.trim().trim_matches('"');
            value
                .starts_with("http")
                .then(|| format!("{key} = {value}"))
        })
    });
    match link {
        Some(found) => Requirement {
            name,
            status: Status::Met,
            found,
        },
        None => Requirement {
            name,
            status: Status::Advisory,
            found: "none in Cargo.toml: add `repository = \"https://...\"` so reviewers and \
                    users find the docs"
                .into(),
        },
    }
}

/// The acceptance-test requirement: the suite passed.
pub fn suite(report: &SuiteReport) -> Requirement {
    let count = |s| report.checks.iter().filter(|c| c.status == s).count();
    let (passed, failed, skipped) = (
        count(CheckStatus::Passed),
        count(CheckStatus::Failed),
        count(CheckStatus::Skipped),
    );
    let mut found = format!(
        "the {} suite: {passed} passed, {failed} failed, {skipped} skipped",
        report.kind
    );
    let failures: Vec<&str> = report.failures().map(|c| c.name.as_str()).collect();
    if !failures.is_empty() {
        let _ = write!(found, "; failed: {}", failures.join(", "));
    }
    Requirement {
        name: "Acceptance tests (the testkit's conformance suite) pass",
        status: if report.passed() && passed > 0 {
            Status::Met
        } else {
            Status::Failed
        },
        found,
    }
}

/// The whole checklist, in the program's order: what the testkit can
/// check, then the vendor's own steps.
pub fn checklist(crate_dir: Option<&Path>, report: &SuiteReport) -> Vec<Requirement> {
    let yours = |name, found: &str| Requirement {
        name,
        status: Status::NotChecked,
        found: found.into(),
    };
    vec![
        license(crate_dir),
        readme(crate_dir),
        docs_link(crate_dir),
        suite(report),
        yours(
            "Test logs sent for review",
            "this package: send it to Nomad-integration-dev@hashicorp.com",
        ),
        yours(
            "Engage: the Nomad integration webform",
            "fill it in before the review",
        ),
        yours(
            "Support: critical issues resolved within 48 hours, others within 5 business days",
            "a commitment the vendor makes",
        ),
    ]
}

/// Whether any requirement failed.
pub fn failed(checklist: &[Requirement]) -> bool {
    checklist.iter().any(|r| r.status == Status::Failed)
}

/// The binary's SHA-256, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }))
}

/// What `REVIEW.md` states besides the checklist.
pub struct Summary<'a> {
    /// The plugin binary checked.
    pub binary: &'a Path,
    /// Its SHA-256.
    pub sha256: &'a str,
    /// The plugin's name, type and version as it reported them.
    pub plugin: (&'a str, &'a str, &'a str),
    /// The plugin API versions it reported.
    pub api_versions: &'a [String],
    /// The protocols spoken, from the verification report.
    pub protocols: &'a [(String, String)],
    /// Where it ran.
    pub machine: &'a Machine,
    /// The command line.
    pub command: &'a str,
    /// Whether the plugin's log lines were captured (`plugin.log`).
    pub log_captured: bool,
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `REVIEW.md`: verdict, checklist, versions, machine, checksum and the
/// package's files.
pub fn review_markdown(summary: &Summary<'_>, checklist: &[Requirement]) -> String {
    let mut md = String::new();
    let verdict = if failed(checklist) {
        "FAILED: a requirement is not met (see the checklist)"
    } else {
        "READY: every requirement the testkit checks is met"
    };
    let (name, kind, version) = summary.plugin;
    let _ = writeln!(md, "# Integration review package: {}\n", cell(name));
    let _ = writeln!(md, "**{verdict}**\n");
    let _ = writeln!(
        md,
        "Requirements from the [Nomad Integration Program]({PROGRAM_URL}).\n"
    );
    md.push_str("## Checklist\n\n| Requirement | Status | Found |\n|---|---|---|\n");
    for r in checklist {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            cell(r.name),
            r.status.label(),
            cell(&r.found)
        );
    }
    md.push_str("\n## Plugin\n\n| | |\n|---|---|\n");
    let or_unknown = |s: &str| {
        if s.is_empty() {
            "(not reported)".to_string()
        } else {
            cell(s)
        }
    };
    let _ = writeln!(md, "| Name | {} |", or_unknown(name));
    let _ = writeln!(md, "| Type | {} |", or_unknown(kind));
    let _ = writeln!(md, "| Version | {} |", or_unknown(version));
    let _ = writeln!(
        md,
        "| Binary | {} |",
        cell(&summary.binary.display().to_string())
    );
    let _ = writeln!(md, "| SHA-256 | `{}` |", summary.sha256);
    md.push_str("\n## Versions\n\n| | |\n|---|---|\n");
    let _ = writeln!(md, "| nomad-plugin-testkit | {TESTKIT_VERSION} |");
    let _ = writeln!(md, "| go-plugin (wire protocol) | {GO_PLUGIN_VERSION} |");
    let _ = writeln!(md, "| Nomad plugin API (testkit) | {PLUGIN_API_VERSION} |");
    if !summary.api_versions.is_empty() {
        let _ = writeln!(
            md,
            "| Nomad plugin API (plugin) | {} |",
            cell(&summary.api_versions.join(", "))
        );
    }
    for (protocol, v) in summary.protocols {
        let _ = writeln!(md, "| {} | {} |", cell(protocol), cell(v));
    }
    let m = summary.machine;
    md.push_str("\n## Machine\n\n| | |\n|---|---|\n");
    for (k, v) in [
        ("Host", m.hostname.clone()),
        ("OS", m.os.clone()),
        ("Kernel", m.kernel.clone()),
        ("Architecture", m.arch.clone()),
        ("CPUs", m.cpus.to_string()),
        ("Date (UTC)", m.date_utc.clone()),
    ] {
        let _ = writeln!(md, "| {k} | {} |", cell(&v));
    }
    let _ = writeln!(md, "| Command | `{}` |", summary.command.replace('`', "'"));
    md.push_str("\n## Files\n\n");
    for (file, what) in [
        (
            "report.html",
            "the verification report, one self-contained page",
        ),
        (
            "report.md",
            "the verification report in Markdown (for a pull request)",
        ),
        ("junit.xml", "every check as JUnit, for CI"),
        (
            "plugin.log",
            if summary.log_captured {
                "the plugin's full log during the suite, each check's lines before its `---` marker"
            } else {
                "each check's detail (exec-based plugins: their output is in the detail)"
            },
        ),
        (
            "SHA256SUMS",
            "the binary's checksum, as `sha256sum -c` reads it",
        ),
    ] {
        let _ = writeln!(md, "- `{file}`: {what}");
    }
    md
}

/// `plugin.log` for plugins whose output the testkit does not capture as
/// log lines (exec-based kinds): each check's detail, in order.
pub fn details_log(report: &SuiteReport) -> String {
    let mut s = String::new();
    for c in &report.checks {
        let _ = writeln!(s, "--- {}: {:?}", c.name, c.status);
        if !c.detail.is_empty() {
            let _ = writeln!(s, "{}", c.detail);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        d
    }

    const MPL: &str = include_str!("../../../../LICENSE");

    #[test]
    fn the_licence_must_be_the_full_mpl_2_text() {
        let d = dir_with(&[("LICENSE", MPL)]);
        assert_eq!(license(Some(d.path())).status, Status::Met);
        let d = dir_with(&[("LICENSE", "SPDX: Mozilla Public License, version 2.0")]);
        let r = license(Some(d.path()));
        assert_eq!(r.status, Status::Failed);
        assert!(r.found.contains("not its full text"), "{}", r.found);
        let d = dir_with(&[("LICENSE", "MIT License\n\nPermission is hereby granted")]);
        let r = license(Some(d.path()));
        assert_eq!(r.status, Status::Failed);
        assert!(r.found.contains("is not the Mozilla"), "{}", r.found);
        let d = dir_with(&[]);
        let r = license(Some(d.path()));
        assert_eq!(r.status, Status::Failed);
        assert!(r.found.contains("no licence file"), "{}", r.found);
        assert_eq!(license(None).status, Status::Failed);
    }

    #[test]
    fn readme_and_docs_link() {
        let d = dir_with(&[
            ("README.md", "# acme\n\nA driver.\n"),
            (
                "Cargo.toml",
                "[package]\nname = \"acme\"\nrepository = \"https://github.com/acme/acme\"\n",
            ),
        ]);
        assert_eq!(readme(Some(d.path())).status, Status::Met);
        let link = docs_link(Some(d.path()));
        assert_eq!(link.status, Status::Met);
        assert!(link.found.contains("https://github.com/acme/acme"));
        let d = dir_with(&[("README.md", "  \n"), ("Cargo.toml", "[package]\n")]);
        assert_eq!(readme(Some(d.path())).status, Status::Failed);
        assert_eq!(docs_link(Some(d.path())).status, Status::Advisory);
    }

    #[test]
    fn a_failed_or_empty_suite_fails_the_checklist() {
        let mut report = SuiteReport::new("driver", "./acme");
        report.record("base.plugin_info", Ok(String::new()));
        let d = dir_with(&[("LICENSE", MPL), ("README.md", "# acme\n")]);
        assert!(!failed(&checklist(Some(d.path()), &report)));
        report.record("lifecycle.start", Err("no".into()));
        let list = checklist(Some(d.path()), &report);
        assert!(failed(&list));
        assert!(
            list[3].found.contains("failed: lifecycle.start"),
            "{:?}",
            list[3]
        );
        let empty = SuiteReport::new("driver", "./acme");
        assert_eq!(suite(&empty).status, Status::Failed);
    }

    #[test]
    fn sha256_of_a_file() {
        let d = dir_with(&[("bin", "abc")]);
        assert_eq!(
            sha256_file(&d.path().join("bin")).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha256_file(&d.path().join("missing")).is_err());
    }
}

//! The outcome of a conformance suite: one line per check, in the words of
//! what Nomad would have done. Every suite of the testkit (driver, device,
//! CSI, autoscaler, host volume, secret provider) reports with these types,
//! so the CLI and vendor tests read them the same way.

use std::fmt;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// Nomad would be happy.
    Passed,
    /// Nomad would fail, misbehave or crash; the detail says how.
    Failed,
    /// Not applicable to this plugin (the detail says why).
    Skipped,
}

/// One check of a suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short, stable identifier (`fingerprint.stream_stays_open`).
    pub name: String,
    /// How it ended.
    pub status: CheckStatus,
    /// What was observed, and on failure what Nomad would have done.
    pub detail: String,
}

/// All checks of one suite run against one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteReport {
    /// The plugin kind the suite is for (`driver`, `device`, `csi`, ...).
    pub kind: String,
    /// The plugin (binary path or name).
    pub plugin: String,
    /// Checks in the order they ran.
    pub checks: Vec<Check>,
}

impl SuiteReport {
    /// An empty report.
    pub fn new(kind: impl Into<String>, plugin: impl Into<String>) -> Self {
        SuiteReport {
            kind: kind.into(),
            plugin: plugin.into(),
            checks: Vec::new(),
        }
    }

    /// Records a check: `Ok(detail)` passed, `Err(detail)` failed. Returns
    /// whether it passed, so a suite can skip what depends on it.
    pub fn record(&mut self, name: impl Into<String>, result: Result<String, String>) -> bool {
        let (status, detail) = match result {
            Ok(d) => (CheckStatus::Passed, d),
            Err(d) => (CheckStatus::Failed, d),
        };
        self.checks.push(Check {
            name: name.into(),
            status,
            detail,
        });
        status == CheckStatus::Passed
    }

    /// Records a check that does not apply.
    pub fn skip(&mut self, name: impl Into<String>, why: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            status: CheckStatus::Skipped,
            detail: why.into(),
        });
    }

    /// No check failed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != CheckStatus::Failed)
    }

    /// The check with this name.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The status of the check with this name.
    pub fn status(&self, name: &str) -> Option<CheckStatus> {
        self.check(name).map(|c| c.status)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == CheckStatus::Failed)
    }

    /// Panics with the whole report unless every check passed or was
    /// skipped: the one-liner for a vendor's `cargo test`.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(self.passed(), "{self}");
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} plugin {:?}: {} checks, {} failed",
            self.kind,
            self.plugin,
            self.checks.len(),
            self.failures().count()
        )?;
        for c in &self.checks {
            let tag = match c.status {
                CheckStatus::Passed => "PASS",
                CheckStatus::Failed => "FAIL",
                CheckStatus::Skipped => "SKIP",
            };
            writeln!(f, "  {tag} {}: {}", c.name, c.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_renders() {
        let mut r = SuiteReport::new("driver", "demo");
        assert!(r.record("a", Ok("fine".into())));
        assert!(!r.record("b", Err("Nomad would crash".into())));
        r.skip("c", "no exec");
        assert!(!r.passed());
        assert_eq!(r.status("b"), Some(CheckStatus::Failed));
        assert_eq!(r.failures().count(), 1);
        let text = r.to_string();
        assert!(text.contains("3 checks, 1 failed"));
        assert!(text.contains("FAIL b: Nomad would crash"));
    }
}

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
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Failed)
    }

    /// The report as a JUnit XML document: one `<testsuite>` named after the
    /// kind, one `<testcase>` per check (`<failure>` or `<skipped>` with the
    /// detail). CI systems (GitHub Actions, GitLab, Jenkins) read it as is.
    pub fn to_junit_xml(&self) -> String {
        let failures = self.failures().count();
        let skipped = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Skipped)
            .count();
        let suite = xml_escape(&format!("nomad-plugin-testkit {}", self.kind));
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<testsuites name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">\n",
            self.checks.len()
        ));
        out.push_str(&format!(
            "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n",
            self.checks.len()
        ));
        out.push_str(&format!(
            "    <properties>\n      <property name=\"plugin\" value=\"{}\"/>\n    </properties>\n",
            xml_escape(&self.plugin)
        ));
        for c in &self.checks {
            let name = xml_escape(&c.name);
            let detail = xml_escape(&c.detail);
            let class = xml_escape(&self.kind);
            match c.status {
                CheckStatus::Passed => {
                    out.push_str(&format!(
                        "    <testcase classname=\"{class}\" name=\"{name}\">\n      <system-out>{detail}</system-out>\n    </testcase>\n"
                    ));
                }
                CheckStatus::Failed => {
                    // The message attribute is one line; the body keeps the whole detail.
                    let first = xml_escape(c.detail.lines().next().unwrap_or(""));
                    out.push_str(&format!(
                        "    <testcase classname=\"{class}\" name=\"{name}\">\n      <failure message=\"{first}\">{detail}</failure>\n    </testcase>\n"
                    ));
                }
                CheckStatus::Skipped => {
                    out.push_str(&format!(
                        "    <testcase classname=\"{class}\" name=\"{name}\">\n      <skipped message=\"{detail}\"/>\n    </testcase>\n"
                    ));
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }

    /// The report as a Markdown document for a pull request or an approval
    /// ticket: the verdict, a summary, then a table with every check.
    pub fn to_markdown(&self) -> String {
        let failed = self.failures().count();
        let skipped = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Skipped)
            .count();
        let passed = self.checks.len() - failed - skipped;
        let verdict = if self.passed() { "PASSED" } else { "FAILED" };
        let mut out = format!(
            "# Conformance report: {} plugin `{}`\n\n",
            md_escape(&self.kind),
            md_code(&self.plugin)
        );
        out.push_str(&format!(
            "**{verdict}**: {} checks, {passed} passed, {failed} failed, {skipped} skipped \
             (nomad-plugin-testkit {}).\n\n",
            self.checks.len(),
            env!("CARGO_PKG_VERSION")
        ));
        out.push_str("| Result | Check | Detail |\n|---|---|---|\n");
        for c in &self.checks {
            let tag = match c.status {
                CheckStatus::Passed => "pass",
                CheckStatus::Failed => "**FAIL**",
                CheckStatus::Skipped => "skip",
            };
            out.push_str(&format!(
                "| {tag} | `{}` | {} |\n",
                md_code(&c.name),
                md_escape(&c.detail)
            ));
        }
        out
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

/// Escapes text for an XML attribute or element, dropping the characters
/// XML 1.0 cannot hold at all (most control characters).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push_str(&format!("&#{};", ch as u32)),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a Markdown table cell: pipes and markup characters
/// are backslash-escaped, HTML is neutralised, newlines become `<br>`.
fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a Markdown code span in a table: backticks cannot be
/// escaped there, so they become quotes; pipes are escaped for the table.
fn md_code(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '`' => "'".to_string(),
            '|' => "\\|".to_string(),
            c if c.is_control() => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
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

    #[test]
    fn junit_escapes_and_counts() {
        let mut r = SuiteReport::new("driver", "./bin/a&b");
        r.record("ok.one", Ok("fine <ok>".into()));
        r.record(
            "bad.\"quoted\"",
            Err("line 1 & <tag>\nline 2 with 'apos'\u{1}".into()),
        );
        r.skip("skip.me", "no \"exec\" capability");
        let xml = r.to_junit_xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
        assert!(xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""));
        assert!(xml.contains("value=\"./bin/a&amp;b\""));
        assert!(xml.contains("name=\"bad.&quot;quoted&quot;\""));
        assert!(xml.contains("<failure message=\"line 1 &amp; &lt;tag&gt;\">"));
        assert!(xml.contains("line 2 with &apos;apos&apos;\\u{0001}</failure>"));
        assert!(xml.contains("<skipped message=\"no &quot;exec&quot; capability\"/>"));
        assert!(xml.contains("<system-out>fine &lt;ok&gt;</system-out>"));
        // Nothing raw is left that would break the document.
        assert!(!xml.contains('\u{1}'));
        let bodies: Vec<&str> = xml.split('<').skip(1).collect();
        assert!(bodies.iter().all(|b| !b.contains('<')));
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert_eq!(xml.matches("</testcase>").count(), 3);
    }

    #[test]
    fn markdown_escapes_table_cells() {
        let mut r = SuiteReport::new("device", "my`plugin|x");
        r.record("a", Ok("plain".into()));
        r.record("b", Err("cell | breaker\n<script>*x*".into()));
        let md = r.to_markdown();
        assert!(md.starts_with("# Conformance report: device plugin `my'plugin\\|x`\n"));
        assert!(md.contains("**FAILED**: 2 checks, 1 passed, 1 failed, 0 skipped"));
        assert!(md.contains("| pass | `a` | plain |\n"));
        assert!(md.contains("| **FAIL** | `b` | cell \\| breaker<br>&lt;script&gt;\\*x\\* |\n"));
        // Every table row has exactly four unescaped pipes.
        for line in md.lines().filter(|l| l.starts_with("| ")) {
            let unescaped = line
                .char_indices()
                .filter(|&(i, c)| c == '|' && (i == 0 || line.as_bytes()[i - 1] != b'\\'))
                .count();
            assert_eq!(unescaped, 4, "{line}");
        }
        let mut ok = SuiteReport::new("device", "p");
        ok.record("a", Ok("x".into()));
        assert!(ok.to_markdown().contains("**PASSED**"));
    }
}

//! The outcome of a conformance suite: one line per check, in the words of
//! what Nomad would have done. Every suite of the testkit (driver, device,
//! CSI, autoscaler, host volume, secret provider) reports with these types,
//! so the CLI and vendor tests read them the same way.
//!
//! A suite records each check when it ends, with the time it took. Give a
//! suite a [`Progress`] observer (each suite has a `progress` builder
//! method) to hear about every check as soon as it is recorded, e.g. to
//! print live progress:
//!
//! ```
//! use nomad_plugin_testkit::report::{CheckEvent, Progress, SuiteReport};
//!
//! let progress = Progress::new(|event: &CheckEvent<'_>| match event {
//!     CheckEvent::Finished(check) => eprintln!("{:?} {} ({:?})", check.status, check.name, check.duration),
//!     _ => {}
//! });
//! let mut report = SuiteReport::new("driver", "my-driver").with_progress(progress);
//! report.record("base.plugin_info", Ok("name \"my-driver\"".into()));
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// How long the check took: the time since the previous check was
    /// recorded (or since the suite started), so setup a check shares with
    /// later ones is counted where it happened.
    pub duration: Duration,
}

/// What a [`Progress`] observer hears while a suite runs.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum CheckEvent<'a> {
    /// A check ended and was recorded (passed, failed or skipped).
    Finished(&'a Check),
}

/// An observer of a running suite, called on the suite's task as each
/// check is recorded. Keep it quick: the suite waits for it.
#[derive(Clone)]
pub struct Progress(Arc<dyn Fn(&CheckEvent<'_>) + Send + Sync>);

impl Progress {
    /// An observer that calls `f` for every event.
    pub fn new(f: impl Fn(&CheckEvent<'_>) + Send + Sync + 'static) -> Self {
        Progress(Arc::new(f))
    }

    /// Tells the observer about `event`.
    pub fn notify(&self, event: &CheckEvent<'_>) {
        (self.0)(event)
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// All checks of one suite run against one plugin.
#[derive(Debug, Clone)]
pub struct SuiteReport {
    /// The plugin kind the suite is for (`driver`, `device`, `csi`, ...).
    pub kind: String,
    /// The plugin (binary path or name).
    pub plugin: String,
    /// Checks in the order they ran.
    pub checks: Vec<Check>,
    progress: Option<Progress>,
    /// When the last check was recorded (or the report created).
    mark: Instant,
}

/// Reports are equal when they hold the same checks; the observer and the
/// clock are not compared.
impl PartialEq for SuiteReport {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.plugin == other.plugin && self.checks == other.checks
    }
}

impl Eq for SuiteReport {}

impl SuiteReport {
    /// An empty report; the first check's time is counted from now.
    pub fn new(kind: impl Into<String>, plugin: impl Into<String>) -> Self {
        SuiteReport {
            kind: kind.into(),
            plugin: plugin.into(),
            checks: Vec::new(),
            progress: None,
            mark: Instant::now(),
        }
    }

    /// The report with `progress` (a [`Progress`], or `None` for none)
    /// told about every check recorded from now.
    pub fn with_progress(mut self, progress: impl Into<Option<Progress>>) -> Self {
        self.progress = progress.into();
        self
    }

    /// Records a check: `Ok(detail)` passed, `Err(detail)` failed. Returns
    /// whether it passed, so a suite can skip what depends on it.
    pub fn record(&mut self, name: impl Into<String>, result: Result<String, String>) -> bool {
        let (status, detail) = match result {
            Ok(d) => (CheckStatus::Passed, d),
            Err(d) => (CheckStatus::Failed, d),
        };
        self.push(name.into(), status, detail);
        status == CheckStatus::Passed
    }

    /// Records a check that does not apply.
    pub fn skip(&mut self, name: impl Into<String>, why: impl Into<String>) {
        self.push(name.into(), CheckStatus::Skipped, why.into());
    }

    fn push(&mut self, name: String, status: CheckStatus, detail: String) {
        let now = Instant::now();
        let duration = now.saturating_duration_since(self.mark);
        self.mark = now;
        self.checks.push(Check {
            name,
            status,
            detail,
            duration,
        });
        if let (Some(progress), Some(check)) = (&self.progress, self.checks.last()) {
            progress.notify(&CheckEvent::Finished(check));
        }
    }

    /// The sum of the checks' durations: the suite's running time.
    pub fn duration(&self) -> Duration {
        self.checks.iter().map(|c| c.duration).sum()
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
        let time = junit_time(self.duration());
        out.push_str(&format!(
            "<testsuites name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time}\">\n",
            self.checks.len()
        ));
        out.push_str(&format!(
            "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\">\n",
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
            let time = junit_time(c.duration);
            match c.status {
                CheckStatus::Passed => {
                    out.push_str(&format!(
                        "    <testcase classname=\"{class}\" name=\"{name}\" time=\"{time}\">\n      <system-out>{detail}</system-out>\n    </testcase>\n"
                    ));
                }
                CheckStatus::Failed => {
                    // The message attribute is one line; the body keeps the whole detail.
                    let first = xml_escape(c.detail.lines().next().unwrap_or(""));
                    out.push_str(&format!(
                        "    <testcase classname=\"{class}\" name=\"{name}\" time=\"{time}\">\n      <failure message=\"{first}\">{detail}</failure>\n    </testcase>\n"
                    ));
                }
                CheckStatus::Skipped => {
                    out.push_str(&format!(
                        "    <testcase classname=\"{class}\" name=\"{name}\" time=\"{time}\">\n      <skipped message=\"{detail}\"/>\n    </testcase>\n"
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
             in {} (nomad-plugin-testkit {}).\n\n",
            self.checks.len(),
            format_duration(self.duration()),
            env!("CARGO_PKG_VERSION")
        ));
        markdown_checks(&mut out, &self.checks);
        out
    }

    /// Panics with the whole report unless every check passed or was
    /// skipped: the one-liner for a vendor's `cargo test`.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(self.passed(), "{self}");
    }
}

/// The Markdown table of checks (result, name, time, detail) that both
/// [`SuiteReport::to_markdown`] and the verification report print.
pub(crate) fn markdown_checks(out: &mut String, checks: &[Check]) {
    out.push_str("| Result | Check | Time | Detail |\n|---|---|---:|---|\n");
    for c in checks {
        let tag = match c.status {
            CheckStatus::Passed => "pass",
            CheckStatus::Failed => "**FAIL**",
            CheckStatus::Skipped => "skip",
        };
        out.push_str(&format!(
            "| {tag} | `{}` | {} | {} |\n",
            md_code(&c.name),
            format_duration(c.duration),
            md_escape(&c.detail)
        ));
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
            writeln!(
                f,
                "  {tag} {} ({}): {}",
                c.name,
                format_duration(c.duration),
                c.detail
            )?;
        }
        Ok(())
    }
}

/// A duration as a person reads it in a report: `850 ms`, `3.20 s`,
/// `2 min 05 s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// Seconds with millisecond precision, as JUnit's `time` attribute wants.
fn junit_time(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
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
pub(crate) fn md_escape(s: &str) -> String {
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
pub(crate) fn md_code(s: &str) -> String {
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
        assert!(text.contains("FAIL b ("), "{text}");
        assert!(text.contains("): Nomad would crash"), "{text}");
        assert_eq!(
            r.duration(),
            r.checks.iter().map(|c| c.duration).sum::<Duration>()
        );
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
        assert!(xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\""));
        assert_eq!(xml.matches(" time=\"").count(), 5);
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
        assert!(md.contains(" ms | plain |\n"), "{md}");
        assert!(md.contains("| pass | `a` | "), "{md}");
        assert!(md.contains(" | cell \\| breaker<br>&lt;script&gt;\\*x\\* |\n"));
        // Every table row has exactly five unescaped pipes.
        for line in md.lines().filter(|l| l.starts_with("| ")) {
            let unescaped = line
                .char_indices()
                .filter(|&(i, c)| c == '|' && (i == 0 || line.as_bytes()[i - 1] != b'\\'))
                .count();
            assert_eq!(unescaped, 5, "{line}");
        }
        let mut ok = SuiteReport::new("device", "p");
        ok.record("a", Ok("x".into()));
        assert!(ok.to_markdown().contains("**PASSED**"));
    }

    #[test]
    fn progress_hears_every_check_with_its_duration() {
        use std::sync::Mutex;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let mut r = SuiteReport::new("csi", "p").with_progress(Some(Progress::new(move |e| {
            let CheckEvent::Finished(c) = e;
            sink.lock()
                .unwrap()
                .push((c.name.clone(), c.status, c.duration));
        })));
        r.record("a", Ok("x".into()));
        r.record("b", Err("y".into()));
        r.skip("c", "z");
        let seen = seen.lock().unwrap().clone();
        let expected: Vec<_> = r
            .checks
            .iter()
            .map(|c| (c.name.clone(), c.status, c.duration))
            .collect();
        assert_eq!(seen, expected);
        // The observer is not part of equality.
        let mut plain = SuiteReport::new("csi", "p");
        plain.checks = r.checks.clone();
        assert_eq!(plain, r);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(format_duration(Duration::from_millis(3200)), "3.20 s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2 min 05 s");
    }
}

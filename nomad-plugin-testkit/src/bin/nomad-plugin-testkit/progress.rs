//! Live progress: each check printed as it ends, and the plugin's log
//! lines kept around each failed check for the verification report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use nomad_plugin_testkit::csi::CsiPluginProcess;
use nomad_plugin_testkit::report::{format_duration, CheckEvent, CheckStatus, Progress};

use crate::capture::PluginLog;

/// Where the plugin's log lines come from.
enum LogSource {
    /// Not captured (no report asked for, or exec-based plugins whose
    /// output is in each check's detail).
    None,
    /// hclog lines of go-plugin plugins, through `tracing`.
    Tracing(PluginLog),
    /// A CSI plugin's stdout and stderr; `seen` lines were attributed.
    Csi {
        plugin: Weak<CsiPluginProcess>,
        seen: usize,
    },
}

impl LogSource {
    /// The lines logged since the last call.
    fn take_new(&mut self) -> Vec<String> {
        match self {
            LogSource::None => Vec::new(),
            LogSource::Tracing(log) => log.take(),
            LogSource::Csi { plugin, seen } => {
                let Some(plugin) = plugin.upgrade() else {
                    return Vec::new();
                };
                let output = plugin.output();
                let lines: Vec<String> = output.lines().skip(*seen).map(String::from).collect();
                *seen += lines.len();
                lines
            }
        }
    }
}

/// Lines kept per failed check from while it ran (the last ones) and from
/// while the next check ran (the first ones).
const LOG_LINES_PER_FAILURE: usize = 60;

/// The plugin's log lines around each failed check: what it logged between
/// the previous check's end and the failed check's end, then while the next
/// check ran (a crashing plugin's last words are read from its pipe a
/// moment after the check that saw it stop).
#[derive(Clone)]
pub struct FailureLogs {
    state: Arc<Mutex<LogState>>,
}

struct LogState {
    source: LogSource,
    /// Lines by failed check.
    logs: BTreeMap<String, Vec<String>>,
    /// The previous check, if it failed: it gets the next lines too.
    last_failed: Option<String>,
    /// Every line seen, each after a `--- <check>` marker line for the
    /// check that ended after it was logged (the review package's full log).
    all: Vec<String>,
}

impl FailureLogs {
    pub fn new(source: Option<PluginLog>) -> FailureLogs {
        let mut source = source.map_or(LogSource::None, LogSource::Tracing);
        // Lines from before the suite (kind detection) belong to no check.
        source.take_new();
        FailureLogs {
            state: Arc::new(Mutex::new(LogState {
                source,
                logs: BTreeMap::new(),
                last_failed: None,
                all: Vec::new(),
            })),
        }
    }

    fn enabled(&self) -> bool {
        self.state
            .lock()
            .map(|s| !matches!(s.source, LogSource::None))
            .unwrap_or(false)
    }

    pub fn attach_csi(&self, plugin: Weak<CsiPluginProcess>) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut s) = self.state.lock() {
            s.source = LogSource::Csi { plugin, seen: 0 };
        }
    }

    pub fn on_check(&self, name: &str, status: CheckStatus) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let lines = state.source.take_new();
        state.all.extend_from_slice(&lines);
        state.all.push(format!("--- {name}: {status:?}"));
        if let Some(previous) = state.last_failed.take() {
            let end = lines.len().min(LOG_LINES_PER_FAILURE);
            state
                .logs
                .entry(previous)
                .or_default()
                .extend_from_slice(&lines[..end]);
        }
        if status == CheckStatus::Failed {
            let start = lines.len().saturating_sub(LOG_LINES_PER_FAILURE);
            state
                .logs
                .entry(name.to_string())
                .or_default()
                .extend_from_slice(&lines[start..]);
            state.last_failed = Some(name.to_string());
        }
    }

    /// Gives the lines logged after the last check to it, if it failed.
    pub fn finish(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let lines = state.source.take_new();
        state.all.extend_from_slice(&lines);
        if let Some(last) = state.last_failed.take() {
            let end = lines.len().min(LOG_LINES_PER_FAILURE);
            state
                .logs
                .entry(last)
                .or_default()
                .extend_from_slice(&lines[..end]);
        }
    }

    /// Every line the plugin logged during the suite, in order, with a
    /// `--- <check>: <status>` line after the lines of each check; empty
    /// when nothing was captured.
    pub fn full_log(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| {
                if matches!(s.source, LogSource::None) {
                    Vec::new()
                } else {
                    s.all.clone()
                }
            })
            .unwrap_or_default()
    }

    /// Whether the plugin's log lines were captured at all.
    pub fn captured(&self) -> bool {
        self.enabled()
    }

    pub fn logs(&self) -> BTreeMap<String, Vec<String>> {
        self.state
            .lock()
            .map(|s| s.logs.clone())
            .unwrap_or_default()
    }
}

/// The observer that prints each check as it ends and keeps the failures'
/// log lines.
pub fn live_progress(done: Arc<AtomicUsize>, logs: FailureLogs) -> Progress {
    Progress::new(move |event| {
        let CheckEvent::Finished(c) = event else {
            return;
        };
        done.fetch_add(1, Ordering::Relaxed);
        let tag = match c.status {
            CheckStatus::Passed => "PASS",
            CheckStatus::Failed => "FAIL",
            CheckStatus::Skipped => "SKIP",
        };
        eprintln!(
            "[testkit] {tag} {} ({})",
            c.name,
            format_duration(c.duration)
        );
        if c.status == CheckStatus::Failed {
            if let Some(first) = c.detail.lines().next() {
                eprintln!("[testkit]      {first}");
            }
        }
        logs.on_check(&c.name, c.status);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_gets_the_lines_before_and_after_it() {
        let log = PluginLog::default();
        log.push("from detection".into());
        let logs = FailureLogs::new(Some(log.clone()));
        log.push("during a".into());
        logs.on_check("a", CheckStatus::Passed);
        log.push("during b".into());
        logs.on_check("b", CheckStatus::Failed);
        log.push("b's plugin dies".into());
        logs.on_check("c", CheckStatus::Passed);
        log.push("during d".into());
        logs.on_check("d", CheckStatus::Failed);
        log.push("after the suite".into());
        logs.finish();
        let got = logs.logs();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got["b"], vec!["during b", "b's plugin dies"]);
        assert_eq!(got["d"], vec!["during d", "after the suite"]);
        assert_eq!(
            logs.full_log(),
            vec![
                "during a",
                "--- a: Passed",
                "during b",
                "--- b: Failed",
                "b's plugin dies",
                "--- c: Passed",
                "during d",
                "--- d: Failed",
                "after the suite",
            ]
        );
    }

    #[test]
    fn nothing_is_kept_without_a_source() {
        let logs = FailureLogs::new(None);
        logs.on_check("a", CheckStatus::Failed);
        logs.finish();
        assert!(logs.logs().values().all(Vec::is_empty));
        assert!(logs.full_log().is_empty());
        assert!(!logs.captured());
    }
}

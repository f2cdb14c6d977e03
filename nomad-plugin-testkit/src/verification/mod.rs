//! The verification report: the document a plugin vendor attaches to an
//! integration review, as Markdown (for a pull request) or as one
//! self-contained HTML page.
//!
//! It holds a suite's [`SuiteReport`] and what a reviewer needs to trust
//! it: what the plugin said about itself (name, type, versions), its config
//! schema as a table, the plugin's log lines around each failed check, the
//! testkit and protocol versions used, and the machine it ran on.
//!
//! ```
//! use nomad_plugin_testkit::report::SuiteReport;
//! use nomad_plugin_testkit::verification::{Machine, PluginFacts, SchemaInfo, VerificationReport};
//!
//! let mut suite = SuiteReport::new("driver", "./my-driver");
//! suite.record("base.plugin_info", Ok("name \"my-driver\"".into()));
//! let report = VerificationReport {
//!     plugin: PluginFacts {
//!         name: "my-driver".into(),
//!         plugin_type: "driver".into(),
//!         version: "0.1.0".into(),
//!         api_versions: vec!["v0.1.0".into()],
//!         ..PluginFacts::default()
//!     },
//!     schema: SchemaInfo::Empty,
//!     task_schema: None,
//!     protocols: vec![("go-plugin protocol".into(), "core 1, app 2".into())],
//!     failure_logs: Default::default(),
//!     machine: Machine::current(),
//!     command: None,
//!     suite,
//! };
//! assert!(report.to_markdown().contains("| Name | my-driver |"));
//! assert!(report.to_html().starts_with("<!DOCTYPE html>"));
//! ```

mod html;
mod machine;
mod markdown;
mod schema;

use std::collections::BTreeMap;

pub use machine::Machine;
pub use schema::{schema_rows, SchemaRow};

use crate::report::{CheckStatus, SuiteReport};

/// The version of this testkit, as the report states it.
pub const TESTKIT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the plugin said about itself (`PluginInfo`, CSI `GetPluginInfo`,
/// or a common plugin's `fingerprint`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginFacts {
    /// The name it reported.
    pub name: String,
    /// Its type (`driver`, `device`, `csi`, `apm`, ...).
    pub plugin_type: String,
    /// Its own version, as reported.
    pub version: String,
    /// The plugin API versions it reported (empty where the protocol has
    /// none).
    pub api_versions: Vec<String>,
    /// The binary that was checked.
    pub binary: String,
    /// Anything else worth a reviewer's eye (CSI manifest, capabilities),
    /// in order.
    pub extra: Vec<(String, String)>,
}

/// The plugin's config schema, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaInfo {
    /// The attributes and blocks of the `config { ... }` block.
    Rows(Vec<SchemaRow>),
    /// The plugin reported an empty schema: it takes no config.
    Empty,
    /// Plugins of this kind have no hclspec schema (the reason says how
    /// they are configured).
    NotApplicable(String),
    /// The schema could not be read (the error).
    Unavailable(String),
}

/// A suite's report with everything a reviewer needs to trust it.
#[derive(Debug, Clone)]
pub struct VerificationReport {
    /// The checks.
    pub suite: SuiteReport,
    /// What the plugin said about itself.
    pub plugin: PluginFacts,
    /// Its config schema (the agent's `plugin "..." { config { ... } }`).
    pub schema: SchemaInfo,
    /// A driver's task config schema (a job's `task { config { ... } }`).
    pub task_schema: Option<SchemaInfo>,
    /// The protocols and versions spoken, as `(protocol, version)`.
    pub protocols: Vec<(String, String)>,
    /// The plugin's log lines around each failed check, by check name
    /// (the CLI captures go-plugin plugins' hclog stderr and CSI plugins'
    /// output; exec-based plugins' output is in each check's detail).
    pub failure_logs: BTreeMap<String, Vec<String>>,
    /// Where it ran.
    pub machine: Machine,
    /// The command line that produced it, if any.
    pub command: Option<String>,
}

impl VerificationReport {
    /// Renders the report as GitHub-flavoured Markdown.
    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }

    /// Renders the report as one self-contained HTML page (inline CSS, no
    /// scripts, every text escaped).
    pub fn to_html(&self) -> String {
        html::render(self)
    }

    /// `PASSED` or `FAILED`.
    pub(crate) fn verdict(&self) -> &'static str {
        if self.suite.passed() {
            "PASSED"
        } else {
            "FAILED"
        }
    }

    /// `(passed, failed, skipped)`.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        let count = |s| self.suite.checks.iter().filter(|c| c.status == s).count();
        (
            count(CheckStatus::Passed),
            count(CheckStatus::Failed),
            count(CheckStatus::Skipped),
        )
    }

    /// The plugin table's rows, in order.
    pub(crate) fn plugin_rows(&self) -> Vec<(String, String)> {
        let p = &self.plugin;
        let or_unknown = |s: &str| {
            if s.is_empty() {
                "(not reported)".to_string()
            } else {
                s.to_string()
            }
        };
        let mut rows = vec![
            ("Name".to_string(), or_unknown(&p.name)),
            ("Type".to_string(), or_unknown(&p.plugin_type)),
            ("Version".to_string(), or_unknown(&p.version)),
        ];
        if !p.api_versions.is_empty() {
            rows.push(("API versions".into(), p.api_versions.join(", ")));
        }
        rows.push(("Binary".into(), or_unknown(&p.binary)));
        rows.extend(p.extra.iter().cloned());
        rows
    }

    /// The environment table's rows: testkit, protocols, machine, command.
    pub(crate) fn environment_rows(&self) -> Vec<(String, String)> {
        let m = &self.machine;
        let mut rows = vec![(
            "Testkit".to_string(),
            format!("nomad-plugin-testkit {TESTKIT_VERSION}"),
        )];
        rows.extend(self.protocols.iter().cloned());
        rows.extend([
            ("Host".to_string(), m.hostname.clone()),
            ("OS".to_string(), m.os.clone()),
            ("Kernel".to_string(), m.kernel.clone()),
            ("Architecture".to_string(), m.arch.clone()),
            ("CPUs".to_string(), m.cpus.to_string()),
            ("Date (UTC)".to_string(), m.date_utc.clone()),
        ]);
        if let Some(c) = &self.command {
            rows.push(("Command".into(), c.clone()));
        }
        rows
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use nomad_plugin_sdk::config::schema::{attr, object};

    /// A report with one check of each status, hostile text and a schema.
    pub(crate) fn sample() -> VerificationReport {
        let mut suite = SuiteReport::new("driver", "./bin/de`mo");
        suite.record("base.plugin_info", Ok("name \"de`mo\"".into()));
        suite.record(
            "lifecycle.start",
            Err("StartTask failed: <script>alert(1)</script> | pipe".into()),
        );
        suite.skip("exec.exec_task", "no exec capability");
        let spec = object([
            ("image", attr("string").required().into()),
            ("shell", attr("string").with_default("\"bash\"")),
        ]);
        let mut failure_logs = BTreeMap::new();
        failure_logs.insert(
            "lifecycle.start".to_string(),
            vec!["starting ```weird``` plugin".to_string()],
        );
        VerificationReport {
            suite,
            plugin: PluginFacts {
                name: "de`mo".into(),
                plugin_type: "driver".into(),
                version: "1.2.3".into(),
                api_versions: vec!["v0.1.0".into()],
                binary: "./bin/de`mo".into(),
                extra: vec![("Capabilities".into(), "exec: none".into())],
            },
            schema: SchemaInfo::Rows(schema_rows(&spec)),
            task_schema: Some(SchemaInfo::Rows(schema_rows(&object([(
                "command",
                attr("string").required().into(),
            )])))),
            protocols: vec![("go-plugin protocol".into(), "core 1, app 2".into())],
            failure_logs,
            machine: Machine::current(),
            command: Some("nomad-plugin-testkit check ./bin/de`mo".into()),
        }
    }
}

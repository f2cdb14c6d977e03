//! Nomad's exec-based "common plugin interface", shared by host volume and
//! secret provider plugins.
//!
//! Nomad runs these plugins as one-shot executables: `<dir>/<id> <operation>
//! [arg]`, stdin `/dev/null`, an environment that holds **only** the variables
//! Nomad sets (no `PATH`, no `HOME`), and it reads one JSON value from stdout
//! plus the exit status. Everything here serves that contract:
//!
//! * [`PluginVersion`]: the version string `fingerprint` prints, validated with
//!   the rules of Nomad's go-version parser;
//! * [`Invocation`]: the arguments and environment Nomad passed, read once and
//!   queried with errors that name the variable;
//! * [`Outcome`]: what a run writes to stdout and the exit status, so an
//!   operation can be tested in-process before it is tested as a binary.
//!
//! The per-kind `serve` functions also protect stdout and stderr: stray output
//! (a `println!`, a child process such as `mkfs` that inherits stdout) can no
//! longer corrupt the JSON Nomad parses; see the kind's module docs for where
//! logs go.

// The crate-private helpers serve both kinds; with one kind (or none, as the
// testkit uses it) some are compiled but unused.
#![cfg_attr(
    not(all(feature = "host-volume", feature = "secrets")),
    allow(dead_code)
)]

mod invocation;
pub(crate) mod process;
mod version;

pub use invocation::{Invocation, InvocationError};
pub use version::{PluginVersion, VersionError};

/// What a plugin answers to `fingerprint`.
///
/// Nomad only runs `fingerprint` when the agent starts and when it reloads
/// (SIGHUP), and publishes the version as a node attribute that placement
/// requires. Keep it fast and free of side effects: host volume plugins have
/// about one second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The plugin's own version (not a protocol version).
    pub version: PluginVersion,
}

impl Fingerprint {
    /// A fingerprint carrying `version`.
    pub fn new(version: PluginVersion) -> Self {
        Self { version }
    }
}

/// What one plugin run produced: the bytes for stdout and the exit status.
///
/// The per-kind `execute` functions return it without touching the process's
/// real stdout, which makes every operation testable in-process; `serve`
/// writes it out and exits with [`exit_code`](Self::exit_code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Exactly one compact JSON value followed by a newline, or empty where
    /// Nomad ignores stdout.
    pub stdout: String,
    /// The process exit status.
    pub exit_code: u8,
}

impl Outcome {
    pub(crate) fn json(value: &serde_json::Value, exit_code: u8) -> Self {
        // Serialising a `Value` cannot fail: every map key is a string.
        let mut stdout = value.to_string();
        stdout.push('\n');
        Self { stdout, exit_code }
    }
}

//! Calling a secret provider exactly as a Nomad client does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use nomad_plugin_sdk::common::PluginVersion;

use super::exec::{KillPolicy, PluginCommand, RawRun};
use super::gojson::{self, Top};
use super::FingerprintVerdict;

/// The Nomad release whose behaviour to imitate; only the deadline differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NomadVersion {
    /// Nomad 1.11.x: SIGTERM after 10 s.
    #[default]
    V1_11,
    /// Nomad 2.0+: SIGTERM after 60 s.
    V2_0,
}

impl NomadVersion {
    /// The deadline after which Nomad sends SIGTERM.
    pub fn timeout(self) -> Duration {
        match self {
            Self::V1_11 => Duration::from_secs(10),
            Self::V2_0 => Duration::from_secs(60),
        }
    }
}

/// Nomad's grace between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// What Nomad does with a `fetch` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchVerdict {
    /// The task starts with these interpolation keys
    /// (`secret.<name>.<key>` → value).
    Secrets(BTreeMap<String, String>),
    /// The task fails (without restarting) with this error.
    TaskFails(String),
    /// The Nomad agent itself crashes.
    AgentPanic(String),
}

/// The result of `fingerprint`.
#[derive(Debug, Clone)]
pub struct SecretsFingerprintCall {
    /// The raw run.
    pub run: RawRun,
    /// What Nomad does.
    pub verdict: FingerprintVerdict,
}

/// The result of `fetch`.
#[derive(Debug, Clone)]
pub struct FetchCall {
    /// The raw run.
    pub run: RawRun,
    /// What Nomad does.
    pub verdict: FetchVerdict,
    /// The plugin printed `"error"` (any non-null value, even `""`).
    pub reported_error: Option<String>,
}

/// Calls one secret provider the way a Nomad client does.
#[derive(Debug, Clone)]
pub struct SecretsCaller {
    executable: PathBuf,
    provider: String,
    nomad: NomadVersion,
    timeout: Duration,
}

/// One `secret` block of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretBlock {
    /// The block's label (`secret "<name>"`), which prefixes the keys.
    pub name: String,
    /// The block's `path`.
    pub path: String,
    /// The block's `env {}`.
    pub env: BTreeMap<String, String>,
    /// The job id Nomad adds as `NOMAD_JOB_ID` (1.11.1+).
    pub job_id: String,
    /// The namespace Nomad adds as `NOMAD_NAMESPACE` (1.11.1+).
    pub namespace: String,
}

impl SecretBlock {
    /// A block named `name` reading `path`, for job `example` in namespace
    /// `default`, without `env`.
    pub fn new(name: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            env: BTreeMap::new(),
            job_id: "example".into(),
            namespace: "default".into(),
        }
    }

    /// Adds an `env {}` entry.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }
}

impl SecretsCaller {
    /// A caller for `<common_plugin_dir>/secrets/<provider>`, imitating
    /// Nomad 1.11.
    pub fn new(secrets_dir: impl Into<PathBuf>, provider: impl Into<String>) -> Self {
        let provider = provider.into();
        let executable = secrets_dir.into().join(&provider);
        Self {
            executable,
            provider,
            nomad: NomadVersion::default(),
            timeout: NomadVersion::default().timeout(),
        }
    }

    /// Imitates another Nomad release.
    pub fn nomad(mut self, version: NomadVersion) -> Self {
        self.nomad = version;
        self.timeout = version.timeout();
        self
    }

    /// Overrides the deadline (to test slow plugins faster).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The provider name (the file name).
    pub fn provider(&self) -> &str {
        &self.provider
    }

    fn command(&self, op: &str) -> PluginCommand {
        PluginCommand::new(&self.executable)
            .arg(op)
            .env("CPI_OPERATION", op)
            .deadline(self.timeout, KillPolicy::TermThenKill(KILL_GRACE))
    }

    /// The `fetch` command with the environment Nomad builds.
    pub fn fetch_command(&self, block: &SecretBlock) -> PluginCommand {
        let mut cmd = self.command("fetch").arg(&block.path);
        for (k, v) in &block.env {
            cmd = cmd.env(k, v);
        }
        // Nomad sets these last, over any env{} entry of the same name.
        cmd.env("NOMAD_JOB_ID", &block.job_id)
            .env("NOMAD_NAMESPACE", &block.namespace)
            .env("CPI_OPERATION", "fetch")
    }

    /// Runs `fingerprint`.
    pub async fn fingerprint(&self) -> SecretsFingerprintCall {
        let run = self.command("fingerprint").run().await;
        let verdict = self.fingerprint_verdict(&run);
        SecretsFingerprintCall { run, verdict }
    }

    fn fingerprint_verdict(&self, run: &RawRun) -> FingerprintVerdict {
        if let Some(err) = run.ending.go_error() {
            return FingerprintVerdict::Skipped(format!(
                "secrets plugin failed fingerprint: {err}; the agent logs it and skips the plugin"
            ));
        }
        if !run.stderr.is_empty() {
            return FingerprintVerdict::AgentPanic(stderr_panic());
        }
        let members = match gojson::parse(&run.stdout) {
            Err(e) => {
                return FingerprintVerdict::Skipped(format!(
                    "secrets plugin failed fingerprint: {e}; the agent skips the plugin"
                ));
            }
            Ok(Top::Null) => {
                return FingerprintVerdict::AgentPanic(
                    "stdout was `null`: the agent dereferences a nil fingerprint and crashes"
                        .into(),
                );
            }
            Ok(Top::Object(m)) => m,
        };
        let (version, kind) = match (
            gojson::string_ptr_field(&members, "version"),
            gojson::string_ptr_field(&members, "type"),
        ) {
            (Ok(v), Ok(t)) => (v, t),
            (Err(e), _) | (_, Err(e)) => {
                return FingerprintVerdict::Skipped(format!(
                    "secrets plugin failed fingerprint: {e}; the agent skips the plugin"
                ));
            }
        };
        let version = match version.as_deref().map(PluginVersion::parse) {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                return FingerprintVerdict::Skipped(format!(
                    "secrets plugin failed fingerprint: {e}; the agent skips the plugin"
                ));
            }
            None => {
                return FingerprintVerdict::Skipped(
                    "no \"version\": the agent silently skips the plugin".into(),
                );
            }
        };
        match kind.as_deref() {
            Some("secrets") => FingerprintVerdict::Registered {
                attribute: format!("plugins.secrets.{}.version", self.provider),
                value: version.original().to_owned(),
            },
            Some(other) => FingerprintVerdict::Skipped(format!(
                "\"type\" is {other:?}, not \"secrets\": the agent silently skips the plugin"
            )),
            None => FingerprintVerdict::Skipped(
                "no \"type\": the agent silently skips the plugin (it must be \"secrets\")".into(),
            ),
        }
    }

    /// Runs `fetch` for one secret block.
    pub async fn fetch(&self, block: &SecretBlock) -> FetchCall {
        let run = self.fetch_command(block).run().await;
        let failed = |e: &dyn std::fmt::Display| {
            FetchVerdict::TaskFails(format!(
                "failed executing plugin {:?} for secret {:?}: {e}",
                self.provider, block.name
            ))
        };
        if let Some(err) = run.ending.go_error() {
            let verdict = failed(&err);
            return FetchCall {
                run,
                verdict,
                reported_error: None,
            };
        }
        if !run.stderr.is_empty() {
            return FetchCall {
                run,
                verdict: FetchVerdict::AgentPanic(stderr_panic()),
                reported_error: None,
            };
        }
        let parsed = gojson::parse(&run.stdout).and_then(|top| match top {
            Top::Null => Ok(None),
            Top::Object(m) => Ok(Some((
                gojson::string_map_field(&m, "result")?,
                gojson::string_ptr_field(&m, "error")?,
            ))),
        });
        let (verdict, reported_error) = match parsed {
            Err(e) => (failed(&e), None),
            Ok(None) => (
                FetchVerdict::AgentPanic(
                    "stdout was `null`: the agent dereferences a nil response and crashes".into(),
                ),
                None,
            ),
            Ok(Some((_, Some(error)))) => (
                FetchVerdict::TaskFails(format!(
                    "provider {:?} for secret {:?} response contained error: {error:?}",
                    self.provider, block.name
                )),
                Some(error),
            ),
            Ok(Some((result, None))) => (
                FetchVerdict::Secrets(
                    result
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (format!("secret.{}.{k}", block.name), v))
                        .collect(),
                ),
                None,
            ),
        };
        FetchCall {
            run,
            verdict,
            reported_error,
        }
    }
}

fn stderr_panic() -> String {
    "the plugin exited 0 and wrote to stderr: the agent logs stderr through a nil logger and crashes".into()
}

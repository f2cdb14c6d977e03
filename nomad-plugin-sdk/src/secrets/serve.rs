//! `serve`: one process invocation of a secret provider, start to exit.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{env, FetchRequest, SecretProvider, Secrets};
use crate::common::process::{self, LogBuffer, StdioGuard, StrayOutput};
use crate::common::{Invocation, Outcome};

/// Deadlines and logging for [`serve_with_options`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    fingerprint_timeout: Duration,
    fetch_timeout: Duration,
    log_level: Option<tracing::Level>,
    log_file: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            // Nomad 1.11 sends SIGTERM after 10 s (2.0: 60 s); answer first.
            fingerprint_timeout: Duration::from_secs(9),
            fetch_timeout: Duration::from_secs(9),
            log_level: Some(tracing::Level::INFO),
            log_file: None,
        }
    }
}

impl ServeOptions {
    /// Deadline for `fingerprint` (default 9 s).
    pub fn fingerprint_timeout(mut self, d: Duration) -> Self {
        self.fingerprint_timeout = d;
        self
    }
    /// Deadline for `fetch` (default 9 s, under the 10 s after which Nomad
    /// 1.11 sends SIGTERM; Nomad 2.0+ allows 60 s).
    pub fn fetch_timeout(mut self, d: Duration) -> Self {
        self.fetch_timeout = d;
        self
    }
    /// Level of the `tracing` subscriber the SDK installs; `None` installs
    /// none. Default: `INFO`.
    pub fn log_level(mut self, level: Option<tracing::Level>) -> Self {
        self.log_level = level;
        self
    }
    /// Append every run's log lines to this file (created if missing).
    /// Without it, logs reach stderr only when the plugin exits non-zero,
    /// which Nomad discards.
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }
}

/// Runs a secret provider: reads the operation, path and environment, calls
/// `provider`, prints the answer and returns the exit status.
///
/// ```no_run
/// # use nomad_plugin_sdk::secrets::*;
/// # struct MyProvider;
/// # #[nomad_plugin_sdk::async_trait]
/// # impl SecretProvider for MyProvider {
/// #   async fn fingerprint(&self) -> Result<Fingerprint, SecretsError> { unimplemented!() }
/// #   async fn fetch(&self, _: &FetchRequest) -> Result<Secrets, SecretsError> { unimplemented!() }
/// # }
/// fn main() -> std::process::ExitCode {
///     nomad_plugin_sdk::secrets::serve(MyProvider)
/// }
/// ```
///
/// While the provider runs, file descriptors 1 and 2 point at `/dev/null`:
/// anything written to stderr when the plugin exits 0 can crash the Nomad
/// agent, and anything extra on stdout breaks the JSON. Logs are kept in
/// memory and go to [`ServeOptions::log_file`], and to the real stderr only on
/// a non-zero exit.
pub fn serve<P: SecretProvider>(provider: P) -> ExitCode {
    serve_with_options(provider, ServeOptions::default())
}

/// [`serve`] with explicit [`ServeOptions`].
pub fn serve_with_options<P: SecretProvider>(provider: P, options: ServeOptions) -> ExitCode {
    let mut stdio = StdioGuard::install(StrayOutput::Discard);
    let logs = LogBuffer::default();
    if let Some(level) = options.log_level {
        let sink = logs.clone();
        process::install_logger(move || sink.clone(), level);
    }
    let invocation = Invocation::from_process();
    let (outcome, runtime) = match process::runtime() {
        Ok(rt) => (
            rt.block_on(execute(&provider, &invocation, &options)),
            Some(rt),
        ),
        Err(e) => (
            internal_failure(&format!("cannot start the async runtime: {e}")),
            None,
        ),
    };
    let mut code = outcome.exit_code;
    if let Err(e) = stdio.write_stdout(outcome.stdout.as_bytes()) {
        tracing::error!("cannot write the answer to stdout: {e}");
        code = 1;
    }
    let log = logs.take();
    if let Some(path) = &options.log_file {
        if !log.is_empty() {
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(&log));
        }
    }
    if code != 0 {
        // Nomad drops stderr on a non-zero exit; a person running the plugin
        // by hand still sees why.
        stdio.write_stderr(&log);
    }
    if let Some(rt) = runtime {
        rt.shutdown_background();
    }
    ExitCode::from(code)
}

/// A failure the job's author should read: exit 0 with `error` set.
fn user_error(message: &str) -> Outcome {
    tracing::warn!("{message}");
    Outcome::json(&json!({ "result": {}, "error": message }), 0)
}

/// A failure Nomad only logs (fingerprint, unknown operation): exit 1.
fn internal_failure(message: &str) -> Outcome {
    tracing::error!("{message}");
    Outcome::json(&json!({ "error": message }), 1)
}

/// Runs one operation in-process and returns what [`serve`] would print and
/// its exit status. For tests; [`serve`] is the entry point for `main`.
///
/// ```
/// # use nomad_plugin_sdk::secrets::*;
/// # use nomad_plugin_sdk::common::{Invocation, PluginVersion};
/// struct Fixed;
/// #[nomad_plugin_sdk::async_trait]
/// impl SecretProvider for Fixed {
///     async fn fingerprint(&self) -> Result<Fingerprint, SecretsError> {
///         Ok(Fingerprint::new(PluginVersion::parse("1.0.0")?))
///     }
///     async fn fetch(&self, req: &FetchRequest) -> Result<Secrets, SecretsError> {
///         match req.path.as_str() {
///             "db" => Ok([("user".to_owned(), "app".to_owned())].into()),
///             other => Err(SecretsError::not_found(other)),
///         }
///     }
/// }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let opts = ServeOptions::default();
/// let ok = execute(&Fixed, &Invocation::new(["fetch", "db"], [("CPI_OPERATION", "fetch")]), &opts).await;
/// assert_eq!((ok.stdout.as_str(), ok.exit_code), ("{\"result\":{\"user\":\"app\"}}\n", 0));
/// let missing = execute(&Fixed, &Invocation::new(["fetch", "x"], [("CPI_OPERATION", "fetch")]), &opts).await;
/// assert_eq!(missing.stdout, "{\"error\":\"secret \\\"x\\\" not found\",\"result\":{}}\n");
/// assert_eq!(missing.exit_code, 0, "exit 0, or Nomad hides the message");
/// # });
/// ```
pub async fn execute<P: SecretProvider + ?Sized>(
    provider: &P,
    invocation: &Invocation,
    options: &ServeOptions,
) -> Outcome {
    let op = match invocation.operation(env::OPERATION) {
        Ok(op) => op,
        Err(e) => return internal_failure(&e.to_string()),
    };
    match op.as_str() {
        "fingerprint" => {
            match process::guarded(options.fingerprint_timeout, provider.fingerprint()).await {
                Ok(Ok(fp)) => Outcome::json(
                    &json!({ "type": "secrets", "version": fp.version.original() }),
                    0,
                ),
                Ok(Err(e)) => internal_failure(&format!("fingerprint: {e}")),
                Err(i) => internal_failure(&format!("fingerprint {i}")),
            }
        }
        "fetch" => {
            let req = match FetchRequest::from_invocation(invocation) {
                Ok(r) => r,
                Err(e) => return user_error(&e.to_string()),
            };
            match process::guarded(options.fetch_timeout, provider.fetch(&req)).await {
                Ok(Ok(secrets)) => match result_json(&secrets) {
                    Ok(value) => Outcome::json(&json!({ "result": value }), 0),
                    Err(why) => user_error(&why),
                },
                Ok(Err(e)) => user_error(&e.to_string()),
                Err(i) => user_error(&format!("fetch of {:?} {i}", req.path)),
            }
        }
        other => internal_failure(&format!(
            "unknown operation {other:?}: Nomad secret providers implement fingerprint and fetch"
        )),
    }
}

/// The `result` object, refusing keys Nomad cannot turn into
/// `secret.<name>.<key>` environment entries.
fn result_json(secrets: &Secrets) -> Result<Value, String> {
    let mut map = Map::new();
    for (k, v) in secrets {
        if k.is_empty() || k.contains(['=', '\0']) {
            return Err(format!(
                "the provider returned the key {k:?}; keys must be non-empty and contain no '=' or NUL"
            ));
        }
        if v.contains('\0') {
            return Err(format!(
                "the value of key {k:?} contains NUL, which no environment variable can hold"
            ));
        }
        map.insert(k.clone(), Value::String(v.clone()));
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use crate::common::PluginVersion;

    struct P;

    #[async_trait::async_trait]
    impl SecretProvider for P {
        async fn fingerprint(&self) -> Result<Fingerprint, SecretsError> {
            Ok(Fingerprint::new(PluginVersion::parse("v0.3")?))
        }
        async fn fetch(&self, req: &FetchRequest) -> Result<Secrets, SecretsError> {
            match req.path.as_str() {
                "hang" => std::future::pending().await,
                "panic" => panic!("bad"),
                "badkey" => Ok([("a=b".to_owned(), "v".to_owned())].into()),
                "env" => Ok(req.env.clone()),
                _ => Err(SecretsError::denied(&req.path, "namespace mismatch")),
            }
        }
    }

    fn fetch(path: &str) -> Invocation {
        Invocation::new(["fetch", path], [("CPI_OPERATION", "fetch"), ("K", "v")])
    }

    #[tokio::test]
    async fn fingerprint_shape() {
        let inv = Invocation::new(["fingerprint"], [("CPI_OPERATION", "fingerprint")]);
        let out = execute(&P, &inv, &ServeOptions::default()).await;
        assert_eq!(out.stdout, "{\"type\":\"secrets\",\"version\":\"v0.3\"}\n");
        assert_eq!(out.exit_code, 0);
    }

    #[tokio::test]
    async fn every_fetch_failure_exits_zero_with_error() {
        let o = ServeOptions::default().fetch_timeout(Duration::from_millis(20));
        for (path, needle) in [
            ("hang", "did not finish within 20ms"),
            ("panic", "panicked: bad"),
            ("badkey", "\\\"a=b\\\""),
            ("other", "namespace mismatch"),
        ] {
            let out = execute(&P, &fetch(path), &o).await;
            assert_eq!(out.exit_code, 0, "{path}");
            let v: Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(v["result"], json!({}), "{path}");
            assert!(
                v["error"].is_string() && out.stdout.contains(needle),
                "{path}: {}",
                out.stdout
            );
        }
    }

    #[tokio::test]
    async fn success_has_no_error_key_and_passes_env() {
        let out = execute(&P, &fetch("env"), &ServeOptions::default()).await;
        assert_eq!(
            (out.stdout.as_str(), out.exit_code),
            ("{\"result\":{\"K\":\"v\"}}\n", 0)
        );
    }

    #[tokio::test]
    async fn unknown_operation_exits_non_zero() {
        let inv = Invocation::new(["list"], [("CPI_OPERATION", "list")]);
        assert_eq!(
            execute(&P, &inv, &ServeOptions::default()).await.exit_code,
            1
        );
    }
}

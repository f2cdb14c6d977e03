//! `serve`: one process invocation of a host volume plugin, start to exit.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use super::{env, CreateRequest, DeleteRequest, HostVolume};
use crate::common::process::{self, StdioGuard, StrayOutput};
use crate::common::{Invocation, Outcome};

/// Deadlines and logging for [`serve_with_options`].
///
/// Nomad kills a host volume plugin with SIGKILL, without warning, when its
/// own deadline passes; the SDK stops the operation a little earlier so the
/// operator gets a message instead of `signal: killed`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    fingerprint_timeout: Duration,
    create_timeout: Duration,
    delete_timeout: Duration,
    log_level: Option<tracing::Level>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            // The fingerprinter gives each plugin 1 s.
            fingerprint_timeout: Duration::from_millis(800),
            // Client RPCs allow 60 s, but restore-creates at agent start share
            // one 50 s deadline.
            create_timeout: Duration::from_secs(45),
            delete_timeout: Duration::from_secs(45),
            log_level: Some(tracing::Level::INFO),
        }
    }
}

impl ServeOptions {
    /// Deadline for `fingerprint` (default 800 ms; Nomad allows 1 s).
    pub fn fingerprint_timeout(mut self, d: Duration) -> Self {
        self.fingerprint_timeout = d;
        self
    }
    /// Deadline for `create` (default 45 s; Nomad allows 60 s per request and
    /// 50 s for all volumes restored at agent start).
    pub fn create_timeout(mut self, d: Duration) -> Self {
        self.create_timeout = d;
        self
    }
    /// Deadline for `delete` (default 45 s; Nomad allows 60 s).
    pub fn delete_timeout(mut self, d: Duration) -> Self {
        self.delete_timeout = d;
        self
    }
    /// Level of the `tracing` subscriber the SDK installs (writing to
    /// stderr, which Nomad copies into its own log); `None` installs none, so
    /// you can install your own. Default: `INFO`.
    pub fn log_level(mut self, level: Option<tracing::Level>) -> Self {
        self.log_level = level;
        self
    }
}

/// Runs a host volume plugin: reads the operation and the `DHV_*` variables,
/// calls `plugin`, prints the answer and returns the exit status.
///
/// ```no_run
/// # use nomad_plugin_sdk::host_volume::*;
/// # struct MyPlugin;
/// # #[nomad_plugin_sdk::async_trait]
/// # impl HostVolume for MyPlugin {
/// #   async fn fingerprint(&self) -> Result<Fingerprint, HostVolumeError> { unimplemented!() }
/// #   async fn create(&self, _: &CreateRequest) -> Result<Created, HostVolumeError> { unimplemented!() }
/// #   async fn delete(&self, _: &DeleteRequest) -> Result<(), HostVolumeError> { unimplemented!() }
/// # }
/// fn main() -> std::process::ExitCode {
///     nomad_plugin_sdk::host_volume::serve(MyPlugin)
/// }
/// ```
///
/// Output that bypasses the SDK (a `println!`, a child process inheriting
/// stdout) is redirected to stderr, so stdout carries only the answer.
pub fn serve<P: HostVolume>(plugin: P) -> ExitCode {
    serve_with_options(plugin, ServeOptions::default())
}

/// [`serve`] with explicit [`ServeOptions`].
pub fn serve_with_options<P: HostVolume>(plugin: P, options: ServeOptions) -> ExitCode {
    let mut stdio = StdioGuard::install(StrayOutput::ToStderr);
    if let Some(level) = options.log_level {
        // fd 2 is still the real stderr, which Nomad captures and logs; write
        // live so nothing is lost if Nomad kills the plugin.
        process::install_logger(std::io::stderr, level);
    }
    let invocation = Invocation::from_process();
    let (outcome, runtime) = match process::runtime() {
        Ok(rt) => (
            rt.block_on(execute(&plugin, &invocation, &options)),
            Some(rt),
        ),
        Err(e) => (
            failure(&format!("cannot start the async runtime: {e}")),
            None,
        ),
    };
    let code = match stdio.write_stdout(outcome.stdout.as_bytes()) {
        Ok(()) => outcome.exit_code,
        Err(e) => {
            stdio.write_stderr(format!("cannot write the answer to stdout: {e}\n").as_bytes());
            1
        }
    };
    if let Some(rt) = runtime {
        // Never wait for a blocking task abandoned at the deadline.
        rt.shutdown_background();
    }
    ExitCode::from(code)
}

fn failure(message: &str) -> Outcome {
    Outcome::json(&json!({ "error": message }), 1)
}

/// Runs one operation in-process and returns what [`serve`] would print and
/// its exit status. For tests; [`serve`] is the entry point for `main`.
///
/// ```
/// # use nomad_plugin_sdk::host_volume::*;
/// # use nomad_plugin_sdk::common::{Invocation, PluginVersion};
/// struct Noop;
/// #[nomad_plugin_sdk::async_trait]
/// impl HostVolume for Noop {
///     async fn fingerprint(&self) -> Result<Fingerprint, HostVolumeError> {
///         Ok(Fingerprint::new(PluginVersion::parse("0.1.0")?))
///     }
///     async fn create(&self, req: &CreateRequest) -> Result<Created, HostVolumeError> {
///         Ok(Created::without_size(req.default_path()))
///     }
///     async fn delete(&self, _: &DeleteRequest) -> Result<(), HostVolumeError> { Ok(()) }
/// }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let inv = Invocation::new(["fingerprint"], [("DHV_OPERATION", "fingerprint")]);
/// let out = execute(&Noop, &inv, &ServeOptions::default()).await;
/// assert_eq!((out.stdout.as_str(), out.exit_code), ("{\"version\":\"0.1.0\"}\n", 0));
/// # });
/// ```
pub async fn execute<P: HostVolume + ?Sized>(
    plugin: &P,
    invocation: &Invocation,
    options: &ServeOptions,
) -> Outcome {
    let op = match invocation.operation(env::OPERATION) {
        Ok(op) => op,
        Err(e) => return failure(&e.to_string()),
    };
    match op.as_str() {
        "fingerprint" => {
            match process::guarded(options.fingerprint_timeout, plugin.fingerprint()).await {
                Ok(Ok(fp)) => Outcome::json(&json!({ "version": fp.version.original() }), 0),
                Ok(Err(e)) => failure(&format!("fingerprint: {e}")),
                Err(i) => failure(&format!("fingerprint {i}")),
            }
        }
        "create" => {
            let req = match CreateRequest::from_invocation(invocation) {
                Ok(r) => r,
                Err(e) => return failure(&e.to_string()),
            };
            tracing::info!(volume_id = %req.volume_id, name = %req.name, "create");
            match process::guarded(options.create_timeout, plugin.create(&req)).await {
                Ok(Ok(created)) => created_outcome(&created),
                Ok(Err(e)) => failure(&e.to_string()),
                Err(i) => failure(&format!("create {i}")),
            }
        }
        "delete" => {
            let req = match DeleteRequest::from_invocation(invocation) {
                Ok(r) => r,
                Err(e) => return failure(&e.to_string()),
            };
            if req.is_auto_delete() {
                tracing::warn!(
                    volume_id = %req.volume_id,
                    "DHV_CREATED_PATH is the volumes directory (Nomad's delete after a failed state write); only the volume's own path may be removed"
                );
            }
            tracing::info!(volume_id = %req.volume_id, path = %req.volume_path().display(), "delete");
            match process::guarded(options.delete_timeout, plugin.delete(&req)).await {
                // Nomad ignores stdout of a successful delete.
                Ok(Ok(())) => Outcome {
                    stdout: String::new(),
                    exit_code: 0,
                },
                Ok(Err(e)) => failure(&e.to_string()),
                Err(i) => failure(&format!("delete {i}")),
            }
        }
        other => failure(&format!(
            "unknown operation {other:?}: Nomad host volume plugins implement fingerprint, create and delete"
        )),
    }
}

fn created_outcome(created: &super::Created) -> Outcome {
    let bad = |why: &str| failure(&format!("the plugin's create result is unusable: {why}"));
    let Some(path) = created.path.to_str() else {
        return bad("the volume path is not valid UTF-8, so it cannot travel in Nomad's JSON");
    };
    if path.is_empty() || !created.path.is_absolute() {
        // Nomad would store and later bind-mount whatever path it is given.
        return bad(&format!("the volume path {path:?} must be absolute"));
    }
    let Ok(bytes) = i64::try_from(created.bytes) else {
        return bad("the size does not fit Nomad's int64");
    };
    Outcome::json(&json!({ "path": path, "bytes": bytes }), 0)
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use crate::common::PluginVersion;
    use std::path::PathBuf;

    struct Scripted {
        path: PathBuf,
        fail: bool,
        hang: bool,
    }

    #[async_trait::async_trait]
    impl HostVolume for Scripted {
        async fn fingerprint(&self) -> Result<Fingerprint, HostVolumeError> {
            Ok(Fingerprint::new(PluginVersion::parse("v1.2")?))
        }
        async fn create(&self, req: &CreateRequest) -> Result<Created, HostVolumeError> {
            if self.hang {
                std::future::pending::<()>().await;
            }
            if self.fail {
                return Err(HostVolumeError::parameter("size", "must be a number"));
            }
            if req.parameters.contains_key("panic") {
                panic!("oops");
            }
            Ok(Created::new(self.path.clone(), 42))
        }
        async fn delete(&self, _: &DeleteRequest) -> Result<(), HostVolumeError> {
            Err(HostVolumeError::other("disk on fire"))
        }
    }

    fn create_inv(params: &str) -> Invocation {
        Invocation::new(
            ["create"],
            [
                (env::OPERATION, "create"),
                (env::VOLUMES_DIR, "/v"),
                (env::PLUGIN_DIR, "/p"),
                (env::VOLUME_ID, "id-1"),
                (env::PARAMETERS, params),
            ],
        )
    }

    fn plugin(path: &str) -> Scripted {
        Scripted {
            path: PathBuf::from(path),
            fail: false,
            hang: false,
        }
    }

    #[tokio::test]
    async fn create_success_and_failure_shapes() {
        let o = ServeOptions::default();
        let out = execute(&plugin("/v/id-1"), &create_inv("null"), &o).await;
        assert_eq!(out.stdout, "{\"bytes\":42,\"path\":\"/v/id-1\"}\n");
        assert_eq!(out.exit_code, 0);

        let mut p = plugin("/v/id-1");
        p.fail = true;
        let out = execute(&p, &create_inv("null"), &o).await;
        assert_eq!(out.exit_code, 1);
        assert_eq!(
            out.stdout,
            "{\"error\":\"invalid parameter \\\"size\\\": must be a number\"}\n"
        );

        let out = execute(&plugin("relative"), &create_inv("null"), &o).await;
        assert_eq!(
            out.exit_code, 1,
            "a relative path must never be reported as success"
        );
        let out = execute(&plugin(""), &create_inv("null"), &o).await;
        assert_eq!(
            out.exit_code, 1,
            "an empty path must never be reported as success"
        );
    }

    #[tokio::test]
    async fn panics_and_timeouts_become_errors() {
        let out = execute(
            &plugin("/v/x"),
            &create_inv(r#"{"panic":"1"}"#),
            &ServeOptions::default(),
        )
        .await;
        assert_eq!(out.exit_code, 1);
        assert!(out.stdout.contains("panicked: oops"), "{}", out.stdout);

        let mut p = plugin("/v/x");
        p.hang = true;
        let o = ServeOptions::default().create_timeout(Duration::from_millis(20));
        let out = execute(&p, &create_inv("null"), &o).await;
        assert_eq!(out.exit_code, 1);
        assert!(
            out.stdout.contains("did not finish within 20ms"),
            "{}",
            out.stdout
        );
    }

    #[tokio::test]
    async fn invalid_requests_and_operations() {
        let o = ServeOptions::default();
        let out = execute(&plugin("/v/x"), &create_inv("[1]"), &o).await;
        assert_eq!(out.exit_code, 1);
        assert!(out.stdout.contains("DHV_PARAMETERS"), "{}", out.stdout);

        let inv = Invocation::new(["resize"], [(env::OPERATION, "resize")]);
        let out = execute(&plugin("/v/x"), &inv, &o).await;
        assert_eq!(out.exit_code, 1);
        assert!(
            out.stdout.contains("unknown operation \\\"resize\\\""),
            "{}",
            out.stdout
        );
    }

    #[tokio::test]
    async fn fingerprint_prints_the_original_version() {
        let inv = Invocation::new(["fingerprint"], [(env::OPERATION, "fingerprint")]);
        let out = execute(&plugin("/v/x"), &inv, &ServeOptions::default()).await;
        assert_eq!(
            (out.stdout.as_str(), out.exit_code),
            ("{\"version\":\"v1.2\"}\n", 0)
        );
    }

    #[tokio::test]
    async fn delete_failure_exits_non_zero() {
        let inv = Invocation::new(
            ["delete"],
            [
                (env::OPERATION, "delete"),
                (env::VOLUMES_DIR, "/v"),
                (env::PLUGIN_DIR, "/p"),
                (env::VOLUME_ID, "id-1"),
                (env::CREATED_PATH, "/v/id-1"),
            ],
        );
        let out = execute(&plugin("/v/x"), &inv, &ServeOptions::default()).await;
        assert_eq!(
            (out.stdout.as_str(), out.exit_code),
            ("{\"error\":\"disk on fire\"}\n", 1)
        );
    }
}

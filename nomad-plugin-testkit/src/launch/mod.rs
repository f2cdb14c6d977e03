//! Starting a plugin binary as a Nomad client (hashicorp/go-plugin's client)
//! does, and talking to it.
//!
//! [`Launcher`] gives the plugin the host's whole environment plus the
//! magic cookie, `PLUGIN_MIN_PORT=10000`, `PLUGIN_MAX_PORT=25000` and
//! `PLUGIN_PROTOCOL_VERSIONS`; inherits stdin; pipes stdout and stderr;
//! reads the handshake line with go-plugin's rules; connects over the Unix
//! socket (or TCP); checks gRPC health; opens the stdio stream; and forwards
//! the plugin's hclog stderr into `tracing` at each line's level.
//! [`RunningPlugin::kill`] stops it the way Nomad does: `Shutdown`, then
//! SIGKILL if the process has not exited two seconds later.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nomad_plugin_testkit::launch::Launcher;
//!
//! let plugin = Launcher::nomad("target/debug/my-driver").launch().await?;
//! println!("listening at {:?}", plugin.address().endpoint);
//! let report = plugin.kill().await?;
//! assert!(report.graceful);
//! # Ok(()) }
//! ```

mod handshake;
mod hclog;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nomad_plugin_proto::go_plugin::grpc_controller_client::GrpcControllerClient;
use nomad_plugin_proto::go_plugin::grpc_stdio_client::GrpcStdioClient;
use nomad_plugin_proto::go_plugin::stdio_data::Channel as StdioChannel;
use nomad_plugin_proto::go_plugin::Empty;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tonic::transport::{Channel, Endpoint as TonicEndpoint, Uri};

pub use handshake::{parse_handshake, Endpoint, HandshakeError, HostProtocol, PluginAddress};
pub use hclog::{parse_stderr_line, valid_timestamp, LogEntry, LogLevel, StderrLine};

/// Nomad's magic cookie for driver and device plugins.
pub const NOMAD_COOKIE: (&str, &str) = (
    "NOMAD_PLUGIN_MAGIC_COOKIE",
    "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255",
);

/// The Nomad Autoscaler's magic cookie.
pub const AUTOSCALER_COOKIE: (&str, &str) = (
    "NOMAD_AUTOSCALER_PLUGIN_MAGIC_COOKIE",
    "e082fa04d587a6525d683666fa253d6afda00f20c122c54a80a3ed57fec99ff3",
);

/// How long go-plugin's client waits for a process to exit after
/// `Shutdown` before it sends SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Why a plugin could not be launched or talked to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The binary could not be started.
    #[error("could not start plugin {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// The process exited before printing a handshake line.
    #[error("plugin exited before we could connect ({status}); its stderr ended with:\n{stderr}")]
    ExitedEarly {
        /// How it exited.
        status: String,
        /// The last lines it wrote on stderr.
        stderr: String,
    },
    /// No handshake line within the start timeout.
    #[error("timeout while waiting for plugin to start ({waited:?}); stdout so far: {stdout:?}; stderr ended with:\n{stderr}")]
    Timeout {
        /// How long the launcher waited.
        waited: Duration,
        /// Whatever had been read from stdout.
        stdout: String,
        /// The last lines it wrote on stderr.
        stderr: String,
    },
    /// The handshake line was refused.
    #[error("{source} (handshake line {line:?})")]
    Handshake {
        /// The line read.
        line: String,
        /// Why it was refused.
        #[source]
        source: HandshakeError,
    },
    /// The plugin's address could not be reached.
    #[error("could not connect to the plugin at {address}: {source}")]
    Connect {
        /// The address from the handshake.
        address: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The health check failed or did not report SERVING.
    #[error("plugin health check failed: {0}")]
    Health(String),
    /// AutoMTLS could not be set up or the plugin does not support it.
    #[error("AutoMTLS: {0}")]
    Tls(String),
    /// Waiting for or killing the process failed.
    #[error("could not stop the plugin process: {0}")]
    Kill(#[source] std::io::Error),
}

/// Starts a plugin binary as a go-plugin host does.
#[derive(Debug, Clone)]
pub struct Launcher {
    attach: Option<(Endpoint, u32)>,
    binary: PathBuf,
    args: Vec<OsString>,
    cookie: Option<(String, String)>,
    versions: Vec<u32>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    start_timeout: Duration,
    inherit_stdin: bool,
    #[cfg_attr(not(feature = "automtls"), allow(dead_code))]
    auto_mtls: bool,
}

impl Launcher {
    /// A launcher with Nomad's handshake (protocol 2).
    pub fn nomad(binary: impl Into<PathBuf>) -> Self {
        Self::with_cookie(binary, NOMAD_COOKIE, vec![2])
    }

    /// A launcher with the Nomad Autoscaler's handshake (protocol 1).
    pub fn autoscaler(binary: impl Into<PathBuf>) -> Self {
        Self::with_cookie(binary, AUTOSCALER_COOKIE, vec![1])
    }

    fn with_cookie(binary: impl Into<PathBuf>, cookie: (&str, &str), versions: Vec<u32>) -> Self {
        Launcher {
            attach: None,
            binary: binary.into(),
            args: Vec::new(),
            cookie: Some((cookie.0.into(), cookie.1.into())),
            versions,
            env: Vec::new(),
            env_remove: Vec::new(),
            start_timeout: Duration::from_secs(60),
            inherit_stdin: true,
            auto_mtls: false,
        }
    }

    /// Adds a command-line argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets an extra environment variable (after the host's own ones, so it
    /// can override the cookie or the port range).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Removes a variable from the plugin's environment.
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// Replaces the magic cookie (`None`: send none at all), for testing
    /// how a plugin refuses a wrong host.
    pub fn cookie(mut self, cookie: Option<(&str, &str)>) -> Self {
        self.cookie = cookie.map(|(k, v)| (k.into(), v.into()));
        self
    }

    /// The application protocol versions the host offers.
    pub fn protocol_versions(mut self, versions: Vec<u32>) -> Self {
        self.versions = versions;
        self
    }

    /// How long to wait for the handshake line (go-plugin's default is one
    /// minute).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Give the plugin an empty stdin instead of the host's.
    pub fn null_stdin(mut self) -> Self {
        self.inherit_stdin = false;
        self
    }

    /// Negotiate go-plugin's AutoMTLS: send a fresh P-521 certificate in
    /// `PLUGIN_CLIENT_CERT`, require the plugin's certificate in the
    /// handshake line, and talk TLS with both pinned.
    #[cfg(feature = "automtls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "automtls")))]
    pub fn auto_mtls(mut self) -> Self {
        self.auto_mtls = true;
        self
    }

    /// The binary this launcher starts.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args);
        if let Some((k, v)) = &self.cookie {
            cmd.env(k, v);
        }
        cmd.env("PLUGIN_MIN_PORT", "10000")
            .env("PLUGIN_MAX_PORT", "25000")
            .env(
                "PLUGIN_PROTOCOL_VERSIONS",
                self.versions
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        cmd.stdin(if self.inherit_stdin {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        cmd
    }

    /// Attaches to a plugin started by hand in attach mode
    /// (`NOMAD_PLUGIN_ATTACH=1`, see `nomad_plugin_sdk::runtime`) instead
    /// of starting `binary`: [`Launcher::launch`] connects to `endpoint`
    /// after checking that process `pid` runs. The attached plugin is never
    /// stopped or signalled by the testkit: [`RunningPlugin::kill`] only
    /// disconnects, and [`RunningPlugin::signal`] refuses.
    pub fn attach_to(mut self, endpoint: Endpoint, pid: u32) -> Self {
        self.attach = Some((endpoint, pid));
        self
    }

    /// Whether this launcher attaches instead of starting a process.
    pub fn is_attach(&self) -> bool {
        self.attach.is_some()
    }

    async fn attach(&self, endpoint: &Endpoint, pid: u32) -> Result<RunningPlugin, LaunchError> {
        let started = Instant::now();
        let raw = i32::try_from(pid).map_err(|e| LaunchError::Health(e.to_string()))?;
        // SAFETY: signal 0 only checks that the process exists.
        if unsafe { libc::kill(raw, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        {
            return Err(LaunchError::ExitedEarly {
                status: format!("no process {pid} runs"),
                stderr: String::new(),
            });
        }
        let channel = connect(endpoint).await?;
        let connected = started.elapsed();
        let mut plugin = RunningPlugin {
            timings: LaunchTimings {
                handshake: Duration::ZERO,
                connected,
                healthy: Duration::ZERO,
            },
            child: None,
            attached_pid: Some(pid),
            pipe_readers: Vec::new(),
            address: PluginAddress {
                protocol_version: self.versions.iter().copied().max().unwrap_or(2),
                endpoint: endpoint.clone(),
                server_cert: None,
                multiplex: None,
            },
            channel,
            logs: Logs::default(),
            stdio: Arc::new(Mutex::new(Vec::new())),
            stdio_changed: Arc::new(Notify::new()),
            stdio_task: None,
            stdout_after_handshake: Arc::new(Mutex::new(Vec::new())),
            binary: self.binary.clone(),
        };
        plugin.check_health().await?;
        plugin.timings.healthy = started.elapsed();
        plugin.stdio_task = Some(plugin.open_stdio());
        Ok(plugin)
    }

    /// Starts the plugin, reads its handshake, connects and checks health.
    pub async fn launch(self) -> Result<RunningPlugin, LaunchError> {
        if let Some((endpoint, pid)) = &self.attach {
            return self.attach(endpoint, *pid).await;
        }
        #[cfg(feature = "automtls")]
        let own_cert =
            if self.auto_mtls {
                Some(nomad_plugin_sdk::host::mtls::generate_cert().map_err(|e| {
                    LaunchError::Tls(format!("generating the host certificate: {e}"))
                })?)
            } else {
                None
            };
        let mut command = self.command();
        #[cfg(feature = "automtls")]
        if let Some(cert) = &own_cert {
            command.env("PLUGIN_CLIENT_CERT", &cert.pem);
        }
        let spawned_at = Instant::now();
        let mut child = command.spawn().map_err(|source| LaunchError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        let logs = Logs::default();
        let stderr_done = child
            .stderr
            .take()
            .map(|s| tokio::spawn(read_stderr(s, logs.clone())));
        let Some(stdout) = child.stdout.take() else {
            return Err(LaunchError::Kill(std::io::Error::other(
                "stdout was not piped",
            )));
        };
        let mut stdout = BufReader::new(stdout);

        let mut first = String::new();
        let read = tokio::time::timeout(self.start_timeout, stdout.read_line(&mut first)).await;
        let line = match read {
            Ok(Ok(n)) if n > 0 => first,
            Ok(_) => {
                // EOF on stdout: the plugin is exiting or has exited.
                let status = child.wait().await.map_err(LaunchError::Kill)?;
                if let Some(h) = stderr_done {
                    let _ = h.await;
                }
                return Err(LaunchError::ExitedEarly {
                    status: status.to_string(),
                    stderr: logs.tail(20),
                });
            }
            Err(_) => {
                let _ = child.kill().await;
                return Err(LaunchError::Timeout {
                    waited: self.start_timeout,
                    stdout: first,
                    stderr: logs.tail(20),
                });
            }
        };
        let handshake_at = spawned_at.elapsed();
        // Like go-plugin, drain (and keep, for diagnostics) the rest of stdout.
        let stdout_rest = Arc::new(Mutex::new(Vec::new()));
        let pipe_readers: Vec<_> = stderr_done
            .into_iter()
            .chain([tokio::spawn(drain(stdout, stdout_rest.clone()))])
            .collect();

        let host = HostProtocol {
            versions: self.versions.clone(),
            multiplex: false,
        };
        let address = match parse_handshake(&line, &host) {
            Ok(a) => a,
            Err(source) => {
                let _ = child.kill().await;
                return Err(LaunchError::Handshake {
                    line: line.trim_end().to_string(),
                    source,
                });
            }
        };
        #[cfg(feature = "automtls")]
        let tls = match (&own_cert, &address.server_cert) {
            (None, _) => None,
            (Some(own), Some(server)) => Some(
                nomad_plugin_sdk::host::mtls::client_config(own, server)
                    .map_err(LaunchError::Tls)?,
            ),
            (Some(_), None) => {
                let _ = child.kill().await;
                return Err(LaunchError::Tls(
                    "AutoMTLS was requested but the plugin's handshake line carries no certificate: \
                     a go-plugin host with AutoMTLS cannot connect to it"
                        .into(),
                ));
            }
        };
        #[cfg(not(feature = "automtls"))]
        let tls = None;
        let channel = match connect_tls(&address.endpoint, tls).await {
            Ok(c) => c,
            Err(e) => {
                let _ = child.kill().await;
                return Err(e);
            }
        };
        let connected_at = spawned_at.elapsed();
        let mut plugin = RunningPlugin {
            timings: LaunchTimings {
                handshake: handshake_at,
                connected: connected_at,
                healthy: Duration::ZERO,
            },
            child: Some(child),
            attached_pid: None,
            address,
            channel,
            logs,
            stdio: Arc::new(Mutex::new(Vec::new())),
            stdio_changed: Arc::new(Notify::new()),
            stdio_task: None,
            stdout_after_handshake: stdout_rest,
            pipe_readers,
            binary: self.binary,
        };
        if let Err(e) = plugin.check_health().await {
            let _ = plugin.kill().await;
            return Err(e);
        }
        plugin.timings.healthy = spawned_at.elapsed();
        plugin.stdio_task = Some(plugin.open_stdio());
        Ok(plugin)
    }
}

/// Parses the `ADDR,PID` of a plugin started in attach mode (what it
/// prints on stderr): `ADDR` is a Unix socket path (or `unix:PATH`) or a
/// TCP `host:port` (or `tcp:host:port`).
///
/// ```
/// use nomad_plugin_testkit::launch::{parse_attach, Endpoint};
///
/// assert_eq!(
///     parse_attach("/tmp/plugin123,4242").unwrap(),
///     (Endpoint::Unix("/tmp/plugin123".into()), 4242)
/// );
/// assert_eq!(
///     parse_attach("127.0.0.1:10000,7").unwrap(),
///     (Endpoint::Tcp("127.0.0.1:10000".into()), 7)
/// );
/// assert!(parse_attach("/tmp/plugin123").is_err());
/// ```
pub fn parse_attach(spec: &str) -> Result<(Endpoint, u32), String> {
    let (addr, pid) = spec
        .rsplit_once(',')
        .ok_or_else(|| format!("--attach {spec:?}: expected ADDR,PID"))?;
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| format!("--attach {spec:?}: {pid:?} is not a process id"))?;
    let endpoint = if let Some(path) = addr.strip_prefix("unix:") {
        Endpoint::Unix(path.into())
    } else if let Some(tcp) = addr.strip_prefix("tcp:") {
        Endpoint::Tcp(tcp.into())
    } else if addr.starts_with('/') || addr.starts_with('.') {
        Endpoint::Unix(addr.into())
    } else if addr.parse::<std::net::SocketAddr>().is_ok() {
        Endpoint::Tcp(addr.into())
    } else {
        return Err(format!(
            "--attach {spec:?}: {addr:?} is neither a socket path nor host:port"
        ));
    };
    Ok((endpoint, pid))
}

/// How many cancelled streams a testkit connection remembers, so that the
/// plugin's frames still in flight for them are dropped quietly (see
/// `connect_tls`).
const MAX_REMEMBERED_RESET_STREAMS: usize = 16 * 1024;

/// Opens a plain (h2c) gRPC channel to a plugin endpoint.
pub async fn connect(endpoint: &Endpoint) -> Result<Channel, LaunchError> {
    connect_tls(endpoint, None).await
}

#[cfg(feature = "automtls")]
type TlsConfig = rustls::ClientConfig;
/// Without the `automtls` feature there is no TLS configuration to pass.
#[cfg(not(feature = "automtls"))]
type TlsConfig = std::convert::Infallible;

/// Opens a gRPC channel to a plugin endpoint, over TLS when `tls` is set.
async fn connect_tls(endpoint: &Endpoint, tls: Option<TlsConfig>) -> Result<Channel, LaunchError> {
    let (uri, address) = match endpoint {
        Endpoint::Unix(p) => ("http://unused".to_string(), p.display().to_string()),
        Endpoint::Tcp(a) => (format!("http://{a}"), a.clone()),
    };
    let tonic_endpoint = TonicEndpoint::from_shared(uri)
        .map_err(|source| LaunchError::Connect {
            address: address.clone(),
            source,
        })?
        .connect_timeout(Duration::from_secs(30))
        // A host that cancels many streams at once (Nomad stopping many
        // tasks) still receives the frames the plugin sent before it saw
        // the cancellations. h2 ignores frames for reset streams it
        // remembers (by default 50, for 1 s) and answers the rest with
        // RST_STREAM, counting each against a per-connection limit of 1,024
        // after which it closes the connection itself with
        // GOAWAY(ENHANCE_YOUR_CALM, "too_many_internal_resets"). Nomad's Go
        // client ignores such frames and has no such limit, so the testkit
        // remembers enough reset streams not to answer them, and has no
        // limit either: it must not close a connection Nomad would keep.
        .http2_max_concurrent_reset_streams(MAX_REMEMBERED_RESET_STREAMS)
        .http2_max_local_error_reset_streams(None);
    #[cfg(feature = "automtls")]
    if let Some(config) = tls {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let endpoint = endpoint.clone();
        let result = tonic_endpoint
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let connector = connector.clone();
                let endpoint = endpoint.clone();
                async move {
                    let name = rustls::pki_types::ServerName::try_from("localhost")
                        .map_err(std::io::Error::other)?;
                    let stream = match endpoint {
                        Endpoint::Unix(p) => {
                            let s = tokio::net::UnixStream::connect(p).await?;
                            Box::pin(connector.connect(name, s).await?)
                                as std::pin::Pin<Box<dyn Io>>
                        }
                        Endpoint::Tcp(a) => {
                            let s = tokio::net::TcpStream::connect(a).await?;
                            Box::pin(connector.connect(name, s).await?)
                        }
                    };
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await;
        return result.map_err(|source| LaunchError::Connect { address, source });
    }
    #[cfg(not(feature = "automtls"))]
    if let Some(never) = tls {
        match never {}
    }
    let result = match endpoint {
        Endpoint::Unix(path) => {
            let path = path.clone();
            tonic_endpoint
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        let stream = tokio::net::UnixStream::connect(path).await?;
                        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                    }
                }))
                .await
        }
        Endpoint::Tcp(_) => tonic_endpoint.connect().await,
    };
    result.map_err(|source| LaunchError::Connect { address, source })
}

/// A TLS stream over either kind of socket.
#[cfg(feature = "automtls")]
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send {}
#[cfg(feature = "automtls")]
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send> Io for T {}

/// The plugin's stderr lines, shared with the reader task.
#[derive(Clone, Default)]
struct Logs {
    lines: Arc<Mutex<Vec<StderrLine>>>,
    changed: Arc<Notify>,
}

impl Logs {
    fn push(&self, line: StderrLine) {
        if let Ok(mut l) = self.lines.lock() {
            l.push(line);
        }
        self.changed.notify_waiters();
    }

    fn snapshot(&self) -> Vec<StderrLine> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn tail(&self, n: usize) -> String {
        let lines = self.snapshot();
        let start = lines.len().saturating_sub(n);
        lines[start..]
            .iter()
            .map(|l| match l {
                StderrLine::Log(e) => format!(
                    "[{}] {}",
                    e.level
                        .map_or("?".into(), |l| format!("{l:?}").to_lowercase()),
                    e.message
                ),
                StderrLine::Raw(s) => s.clone(),
                StderrLine::Invalid { line, .. } => line.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn read_stderr(stderr: impl AsyncRead + Unpin, logs: Logs) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let parsed = parse_stderr_line(&line);
        forward(&parsed);
        logs.push(parsed);
    }
}

/// Re-emits a plugin log line as a `tracing` event at the line's level.
fn forward(line: &StderrLine) {
    match line {
        StderrLine::Log(e) => {
            let module = e.module.as_deref().unwrap_or("");
            let fields = serde_json::Value::Object(
                e.fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
            let msg = &e.message;
            match e.level.unwrap_or(LogLevel::Info) {
                LogLevel::Trace => tracing::trace!(target: "plugin", module, %fields, "{msg}"),
                LogLevel::Debug => tracing::debug!(target: "plugin", module, %fields, "{msg}"),
                LogLevel::Info => tracing::info!(target: "plugin", module, %fields, "{msg}"),
                LogLevel::Warn => tracing::warn!(target: "plugin", module, %fields, "{msg}"),
                LogLevel::Error => tracing::error!(target: "plugin", module, %fields, "{msg}"),
            }
        }
        StderrLine::Raw(s) => tracing::debug!(target: "plugin", "{s}"),
        StderrLine::Invalid { line, problem } => {
            tracing::error!(target: "plugin", problem = %problem, "{line}")
        }
    }
}

async fn drain(mut stdout: BufReader<tokio::process::ChildStdout>, into: Arc<Mutex<Vec<u8>>>) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    while let Ok(n) = stdout.read(&mut buf).await {
        if n == 0 {
            return;
        }
        if let Ok(mut v) = into.lock() {
            if v.len() < 1 << 20 {
                v.extend_from_slice(&buf[..n]);
            }
        }
    }
}

/// How a plugin stopped.
#[derive(Debug, Clone)]
pub struct KillReport {
    /// It exited by itself after `Shutdown` (no SIGKILL needed).
    pub graceful: bool,
    /// Its exit status.
    pub status: ExitStatus,
    /// Time from the `Shutdown` call to the process being gone.
    pub elapsed: Duration,
}

/// How long each launch step took, measured from the spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchTimings {
    /// Spawn until the handshake line was read.
    pub handshake: Duration,
    /// Spawn until the gRPC connection was up.
    pub connected: Duration,
    /// Spawn until the first RPC (the health check) answered SERVING.
    pub healthy: Duration,
}

/// Chunks received through the stdio stream, in arrival order.
type StdioChunks = Arc<Mutex<Vec<(StdioChannel, Vec<u8>)>>>;

/// A plugin's memory in bytes ([`RunningPlugin::memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// Resident set size, shared pages included.
    pub rss: u64,
    /// Proportional set size: private pages plus a share of shared ones.
    pub pss: u64,
    /// Anonymous resident memory: what only this process holds.
    pub anonymous: u64,
}

/// A plugin process the launcher started and connected to.
pub struct RunningPlugin {
    timings: LaunchTimings,
    /// `None` for a plugin the testkit attached to.
    child: Option<Child>,
    attached_pid: Option<u32>,
    address: PluginAddress,
    channel: Channel,
    logs: Logs,
    stdio: StdioChunks,
    stdio_changed: Arc<Notify>,
    stdio_task: Option<tokio::task::JoinHandle<()>>,
    stdout_after_handshake: Arc<Mutex<Vec<u8>>>,
    /// The tasks reading the plugin's stdout and stderr pipes.
    pipe_readers: Vec<tokio::task::JoinHandle<()>>,
    binary: PathBuf,
}

impl std::fmt::Debug for RunningPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningPlugin")
            .field("binary", &self.binary)
            .field("pid", &self.pid())
            .field("address", &self.address)
            .finish()
    }
}

impl RunningPlugin {
    /// The address and protocol read from the handshake line.
    pub fn address(&self) -> &PluginAddress {
        &self.address
    }

    /// How long the launch steps took.
    pub fn timings(&self) -> LaunchTimings {
        self.timings
    }

    /// The plugin's resident memory (VmRSS) in bytes, read from `/proc`.
    pub fn rss_bytes(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// The plugin's memory split the way it matters on a busy node, read
    /// from `/proc/<pid>/smaps_rollup`: RSS counts pages of shared libraries
    /// (libc, mapped by every process) and of the binary's text, which the
    /// kernel shares; `anonymous` is the memory only this process holds
    /// (heap, stacks), and `pss` charges shared pages proportionally.
    pub fn memory(&self) -> Option<MemoryUse> {
        let pid = self.pid()?;
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = rollup.lines().find(|l| l.starts_with(name))?;
            let kb: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
            Some(kb * 1024)
        };
        Some(MemoryUse {
            rss: field("Rss:")?,
            pss: field("Pss:")?,
            anonymous: field("Anonymous:")?,
        })
    }

    /// A gRPC channel to the plugin, for any generated client.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The plugin's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        match &self.child {
            Some(c) => c.id(),
            None => self.attached_pid,
        }
    }

    /// Whether the testkit attached to this plugin rather than starting it.
    pub fn is_attached(&self) -> bool {
        self.child.is_none()
    }

    /// Every stderr line read so far.
    pub fn logs(&self) -> Vec<StderrLine> {
        self.logs.snapshot()
    }

    /// Waits until a stderr line satisfies `pred`, up to `timeout`.
    pub async fn wait_for_log(
        &self,
        timeout: Duration,
        pred: impl Fn(&StderrLine) -> bool,
    ) -> Option<StderrLine> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.logs.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = self.logs.snapshot().into_iter().find(|l| pred(l)) {
                return Some(found);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if tokio::time::timeout(left, notified).await.is_err() {
                return self.logs.snapshot().into_iter().find(|l| pred(l));
            }
        }
    }

    /// What arrived through the stdio stream on one channel so far.
    pub fn stdio_output(&self, channel: StdioChannel) -> Vec<u8> {
        self.stdio
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|(c, _)| *c == channel)
                    .flat_map(|(_, d)| d.iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until the stdio stream has delivered `needle` on `channel`, up
    /// to `timeout`; returns whether it did.
    pub async fn wait_for_stdio(
        &self,
        channel: StdioChannel,
        needle: &[u8],
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let found =
            |out: Vec<u8>| !needle.is_empty() && out.windows(needle.len()).any(|w| w == needle);
        loop {
            let notified = self.stdio_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if found(self.stdio_output(channel)) {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            if tokio::time::timeout(left, notified).await.is_err() {
                return found(self.stdio_output(channel));
            }
        }
    }

    /// Bytes the plugin wrote on its real stdout after the handshake line
    /// (a Go host discards them; a well-behaved plugin writes none).
    pub fn stdout_after_handshake(&self) -> Vec<u8> {
        self.stdout_after_handshake
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Calls `grpc.health.v1.Health/Check` for the `plugin` service.
    pub async fn check_health(&self) -> Result<(), LaunchError> {
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::health_client::HealthClient;
        use tonic_health::pb::HealthCheckRequest;
        let mut client = HealthClient::new(self.channel.clone());
        let call = client.check(HealthCheckRequest {
            service: "plugin".into(),
        });
        let resp = tokio::time::timeout(Duration::from_secs(30), call)
            .await
            .map_err(|_| LaunchError::Health("no answer within 30s".into()))?
            .map_err(|s| LaunchError::Health(format!("{}: {}", s.code(), s.message())))?;
        let status = resp.into_inner().status;
        if status != ServingStatus::Serving as i32 {
            return Err(LaunchError::Health(format!(
                "status {status} instead of SERVING for service \"plugin\""
            )));
        }
        Ok(())
    }

    /// Opens `plugin.GRPCStdio/StreamStdio`, as go-plugin's client does right
    /// after connecting, and keeps what arrives.
    fn open_stdio(&self) -> tokio::task::JoinHandle<()> {
        let mut client = GrpcStdioClient::new(self.channel.clone());
        let into = self.stdio.clone();
        let changed = self.stdio_changed.clone();
        tokio::spawn(async move {
            let Ok(resp) = client.stream_stdio(()).await else {
                return;
            };
            let mut stream = resp.into_inner();
            while let Ok(Some(msg)) = stream.message().await {
                let channel = StdioChannel::try_from(msg.channel).unwrap_or(StdioChannel::Invalid);
                if let Ok(mut v) = into.lock() {
                    v.push((channel, msg.data));
                }
                changed.notify_waiters();
            }
        })
    }

    /// Stops the plugin as Nomad does: `plugin.GRPCController/Shutdown`
    /// (its error ignored), close the connection, wait up to two seconds for
    /// the process to exit, then SIGKILL it. A plugin the testkit attached
    /// to is only disconnected, never stopped.
    pub async fn kill(mut self) -> Result<KillReport, LaunchError> {
        let start = Instant::now();
        if self.child.is_none() {
            // Attached: the plugin belongs to whoever started it. Close
            // this connection only; say so as a clean stop.
            use std::os::unix::process::ExitStatusExt;
            if let Some(task) = self.stdio_task.take() {
                task.abort();
            }
            drop(self.channel);
            return Ok(KillReport {
                graceful: true,
                status: ExitStatus::from_raw(0),
                elapsed: start.elapsed(),
            });
        }
        let mut controller = GrpcControllerClient::new(self.channel.clone());
        let _ = tokio::time::timeout(KILL_GRACE, controller.shutdown(Empty {})).await;
        drop(controller);
        // Close every stream of ours, so the connection really goes away.
        if let Some(task) = self.stdio_task.take() {
            task.abort();
        }
        drop(self.channel);
        let Some(mut child) = self.child.take() else {
            return Err(LaunchError::Kill(std::io::Error::other("no process")));
        };
        match tokio::time::timeout(KILL_GRACE, child.wait()).await {
            Ok(Ok(status)) => Ok(KillReport {
                graceful: true,
                status,
                elapsed: start.elapsed(),
            }),
            _ => {
                child.start_kill().map_err(LaunchError::Kill)?;
                let status = child.wait().await.map_err(LaunchError::Kill)?;
                Ok(KillReport {
                    graceful: false,
                    status,
                    elapsed: start.elapsed(),
                })
            }
        }
    }

    /// Drops this host's connection to the plugin without stopping the
    /// process, as an agent that dies leaves its plugins behind, and
    /// connects again to the address from the handshake, as a restarted
    /// agent does from the reattach config it persisted (address and pid).
    ///
    /// Every channel cloned from [`RunningPlugin::channel`] before must be
    /// dropped by the caller for the old connection to close. Fails if the
    /// process has exited, if the address no longer answers, or if the
    /// plugin was launched with AutoMTLS (Nomad never uses it, and the
    /// testkit keeps no certificate to reconnect with).
    pub async fn reconnect(&mut self) -> Result<(), LaunchError> {
        if let Some(task) = self.stdio_task.take() {
            task.abort();
            let _ = task.await;
        }
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            return Err(LaunchError::ExitedEarly {
                status: status.to_string(),
                stderr: self.logs.tail(20),
            });
        }
        if self.address.server_cert.is_some() {
            return Err(LaunchError::Tls(
                "reattaching to a plugin launched with AutoMTLS is not supported".into(),
            ));
        }
        self.channel = connect(&self.address.endpoint).await?;
        self.check_health().await?;
        self.stdio_task = Some(self.open_stdio());
        Ok(())
    }

    /// Imitates a Nomad agent that dies without killing its plugin: the
    /// connection and the stdio stream are dropped and the read ends of the
    /// plugin's stdout and stderr pipes are closed, while the process keeps
    /// running. [`DetachedPlugin::reattach`] then connects again by address
    /// and pid, as a restarted agent does from its stored reattach config.
    pub async fn detach(mut self) -> DetachedPlugin {
        if let Some(task) = self.stdio_task.take() {
            task.abort();
            let _ = task.await;
        }
        for reader in self.pipe_readers.drain(..) {
            reader.abort();
            // Awaiting the aborted task drops the pipe it owned.
            let _ = reader.await;
        }
        drop(self.channel);
        DetachedPlugin {
            child: self.child,
            attached_pid: self.attached_pid,
            address: self.address,
            logs: self.logs,
        }
    }

    /// Sends a signal to the plugin process (for example SIGINT, which a
    /// go-plugin plugin ignores).
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        let Some(child) = &self.child else {
            return Err(std::io::Error::other(
                "the testkit does not signal a plugin it attached to",
            ));
        };
        let pid = child
            .id()
            .ok_or_else(|| std::io::Error::other("process already exited"))?;
        let pid = i32::try_from(pid).map_err(std::io::Error::other)?;
        // SAFETY: kill(2) with a pid we spawned and have not reaped.
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits for the process to exit by itself (for example after SIGTERM),
    /// up to `timeout`. `None` for an attached plugin, which the testkit
    /// cannot wait for.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        tokio::time::timeout(timeout, child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

/// A plugin whose host went away without killing it
/// ([`RunningPlugin::detach`]). The process stays this test's child, so it
/// is reaped (and killed, if still running, when this is dropped).
pub struct DetachedPlugin {
    /// `None` for a plugin the testkit attached to.
    child: Option<Child>,
    attached_pid: Option<u32>,
    address: PluginAddress,
    logs: Logs,
}

impl std::fmt::Debug for DetachedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetachedPlugin")
            .field("pid", &self.pid())
            .field("address", &self.address)
            .finish()
    }
}

impl DetachedPlugin {
    /// The address from the original handshake (what Nomad stores).
    pub fn address(&self) -> &PluginAddress {
        &self.address
    }

    /// The process id (what Nomad stores next to the address).
    pub fn pid(&self) -> Option<u32> {
        match &self.child {
            Some(c) => c.id(),
            None => self.attached_pid,
        }
    }

    /// The stderr lines read before the host went away.
    pub fn logs_before_detach(&self) -> Vec<StderrLine> {
        self.logs.snapshot()
    }

    /// The exit status, if the process has exited (it is reaped then).
    pub fn try_exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Reattaches as go-plugin does from a reattach config: checks that the
    /// pid is alive, then connects to the stored address. No handshake line
    /// is read (nobody reads the plugin's stdout any more).
    pub async fn reattach(&self) -> Result<Channel, LaunchError> {
        let pid = self
            .pid()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| LaunchError::Kill(std::io::Error::other("the plugin has exited")))?;
        // SAFETY: signal 0 only checks that the process exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
            return Err(LaunchError::Kill(std::io::Error::last_os_error()));
        }
        connect(&self.address.endpoint).await
    }

    /// Stops the plugin as Nomad does after a reattach:
    /// `GRPCController/Shutdown` over `channel`, up to two seconds for the
    /// process to exit, then SIGKILL.
    pub async fn kill(self, channel: Channel) -> Result<KillReport, LaunchError> {
        let start = Instant::now();
        let Some(mut child) = self.child else {
            // Attached: only the connection is closed.
            use std::os::unix::process::ExitStatusExt;
            drop(channel);
            return Ok(KillReport {
                graceful: true,
                status: ExitStatus::from_raw(0),
                elapsed: start.elapsed(),
            });
        };
        let mut controller = GrpcControllerClient::new(channel.clone());
        let _ = tokio::time::timeout(KILL_GRACE, controller.shutdown(Empty {})).await;
        drop(controller);
        drop(channel);
        match tokio::time::timeout(KILL_GRACE, child.wait()).await {
            Ok(Ok(status)) => Ok(KillReport {
                graceful: true,
                status,
                elapsed: start.elapsed(),
            }),
            _ => {
                child.start_kill().map_err(LaunchError::Kill)?;
                let status = child.wait().await.map_err(LaunchError::Kill)?;
                Ok(KillReport {
                    graceful: false,
                    status,
                    elapsed: start.elapsed(),
                })
            }
        }
    }
}

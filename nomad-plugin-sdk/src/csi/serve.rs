//! Serving a CSI plugin on its Unix socket until SIGTERM or SIGINT.
//!
//! Nomad starts a CSI plugin as an ordinary task and tells it where to
//! listen with `CSI_ENDPOINT` (`unix:///.../csi.sock`, inside the task's
//! `csi_plugin.mount_dir`). There is no go-plugin handshake: the plugin
//! binds the socket and Nomad probes it until it answers.

use std::future::Future;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use nomad_plugin_proto::csi::controller_server::ControllerServer;
use nomad_plugin_proto::csi::identity_server::IdentityServer;
use nomad_plugin_proto::csi::node_server::NodeServer;
use tonic::service::{Routes, RoutesBuilder};
use tracing::Level;

use super::grpc::{ControllerGrpc, IdentityGrpc, NodeGrpc};
use super::plugin::CsiPlugin;
use crate::runtime::limit_message_size;

/// The environment variable Nomad (and every CSI CO) sets to the endpoint.
pub const ENDPOINT_ENV: &str = "CSI_ENDPOINT";

/// Why a CSI plugin could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Neither `--endpoint` nor `CSI_ENDPOINT` was given.
    #[error("no CSI endpoint: set CSI_ENDPOINT=unix:///path/to/csi.sock (Nomad sets it for csi_plugin tasks) or pass --endpoint")]
    NoEndpoint,
    /// The endpoint is not a Unix socket address.
    #[error("unsupported CSI endpoint {0:?}: expected unix:///absolute/path or an absolute path")]
    BadEndpoint(String),
    /// Another process is serving on the socket.
    #[error("{0} is in use by another running plugin")]
    InUse(PathBuf),
    /// Something other than a socket is at the endpoint path.
    #[error("{0} exists and is not a socket; refusing to remove it")]
    NotASocket(PathBuf),
    /// Creating, binding or setting permissions on the socket failed.
    #[error("cannot listen on {path}: {source}")]
    Listen {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Where the plugin listens: a Unix socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    path: PathBuf,
}

impl Endpoint {
    /// Parses `unix:///abs/path`, `unix:/abs/path` or a plain absolute
    /// path.
    pub fn parse(s: &str) -> Result<Self, ServeError> {
        let raw = s.trim();
        let path = if let Some(rest) = raw.strip_prefix("unix://") {
            rest
        } else if let Some(rest) = raw.strip_prefix("unix:") {
            rest
        } else if raw.contains("://") {
            return Err(ServeError::BadEndpoint(s.to_string()));
        } else {
            raw
        };
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(ServeError::BadEndpoint(s.to_string()));
        }
        Ok(Endpoint { path })
    }

    /// From `CSI_ENDPOINT`.
    pub fn from_env() -> Result<Self, ServeError> {
        match std::env::var(ENDPOINT_ENV) {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v),
            _ => Err(ServeError::NoEndpoint),
        }
    }

    /// From `--endpoint VALUE` / `--endpoint=VALUE` in `args` (the
    /// program's arguments, without the program name), else from
    /// `CSI_ENDPOINT`.
    pub fn from_args_or_env(args: impl IntoIterator<Item = String>) -> Result<Self, ServeError> {
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            if let Some(v) = a.strip_prefix("--endpoint=") {
                return Self::parse(v);
            }
            if a == "--endpoint" {
                return match args.next() {
                    Some(v) => Self::parse(&v),
                    None => Err(ServeError::NoEndpoint),
                };
            }
        }
        Self::from_env()
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    endpoint: Endpoint,
    socket_mode: u32,
}

impl ServeOptions {
    /// Serve on `endpoint` with socket mode `0660` (owner and group: the
    /// Nomad client runs as root and reaches it through the bind-mounted
    /// plugin directory).
    pub fn new(endpoint: Endpoint) -> Self {
        ServeOptions {
            endpoint,
            socket_mode: 0o660,
        }
    }

    /// Sets the socket's permission bits.
    pub fn socket_mode(mut self, mode: u32) -> Self {
        self.socket_mode = mode;
        self
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// Removes a socket left behind by a previous run (the plugin task was
/// killed), but never a live one or anything that is not a socket.
fn clear_stale_socket(path: &Path) -> Result<(), ServeError> {
    let listen_err = |source| ServeError::Listen {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(listen_err)?;
            }
            Ok(())
        }
        Err(e) => Err(listen_err(e)),
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ServeError::InUse(path.to_path_buf()));
            }
            tracing::info!(path = %path.display(), "removing stale socket");
            std::fs::remove_file(path).map_err(listen_err)
        }
        Ok(_) => Err(ServeError::NotASocket(path.to_path_buf())),
    }
}

/// A bound, not yet serving, plugin socket: once [`bind`] returns, clients
/// can connect (their calls wait until [`BoundSocket::serve`] runs).
#[derive(Debug)]
pub struct BoundSocket {
    listener: tokio::net::UnixListener,
    path: PathBuf,
}

/// Removes a stale socket, binds the endpoint and applies the socket's
/// permissions. Must run inside a tokio runtime.
pub fn bind(options: &ServeOptions) -> Result<BoundSocket, ServeError> {
    let path = options.endpoint.path.clone();
    clear_stale_socket(&path)?;
    let listen_err = |source| ServeError::Listen {
        path: path.clone(),
        source,
    };
    let listener = tokio::net::UnixListener::bind(&path).map_err(listen_err)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(options.socket_mode))
        .map_err(listen_err)?;
    Ok(BoundSocket { listener, path })
}

impl BoundSocket {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves `plugin` until `shutdown` completes, then finishes the calls
    /// in flight and removes the socket.
    pub async fn serve(
        self,
        plugin: CsiPlugin,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let BoundSocket { listener, path } = self;
        let info = plugin.identity.get_plugin_info().await.ok();
        tracing::info!(
            endpoint = %path.display(),
            plugin = info.as_ref().map(|i| i.name.as_str()).unwrap_or(""),
            version = info.as_ref().map(|i| i.vendor_version.as_str()).unwrap_or(""),
            controller = plugin.has_controller(),
            node = plugin.has_node(),
            "CSI plugin listening"
        );

        let result = tonic::transport::Server::builder()
            // The same panic catching and per-RPC tracing as every other kind.
            .layer(crate::runtime::policy::RpcPolicyLayer)
            .add_routes(routes(plugin))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::UnixListenerStream::new(listener),
                shutdown,
            )
            .await;
        // Only remove what is still a socket; never a file someone put there.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(&path);
        }
        tracing::info!("CSI plugin stopped");
        result.map_err(ServeError::from)
    }
}

/// Binds (see [`bind`]) and serves `plugin` until `shutdown` completes,
/// then finishes the calls in flight and removes the socket.
pub async fn serve_with_shutdown(
    plugin: CsiPlugin,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    bind(&options)?.serve(plugin, shutdown).await
}

/// Completes on SIGTERM or SIGINT (what Nomad sends to stop a task).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the plugin with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, stopping"),
        _ = int.recv() => tracing::info!("SIGINT received, stopping"),
    }
}

/// The plugin's gRPC services (`Identity`, and `Controller` and `Node` as
/// registered), for embedding in a test or in a server of your own.
pub fn routes(plugin: CsiPlugin) -> Routes {
    let plugin = Arc::new(plugin);
    let mut routes = RoutesBuilder::default();
    routes.add_service(limit_message_size!(IdentityServer::new(IdentityGrpc(
        plugin.clone()
    ))));
    if plugin.has_controller() {
        routes.add_service(limit_message_size!(ControllerServer::new(ControllerGrpc(
            plugin.clone()
        ))));
    }
    if plugin.has_node() {
        routes.add_service(limit_message_size!(NodeServer::new(NodeGrpc(plugin))));
    }
    routes.routes()
}

/// Serves `plugin` on `options`' endpoint until SIGTERM or SIGINT.
pub async fn serve_at(plugin: CsiPlugin, options: ServeOptions) -> Result<(), ServeError> {
    serve_with_shutdown(plugin, options, shutdown_signal()).await
}

/// How log lines look on stderr (which Nomad writes to the plugin task's
/// log files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// go-hclog JSON lines, like every other Nomad plugin, for log shippers
    /// that already parse Nomad's JSON logs.
    Hclog,
}

impl LogFormat {
    /// From `CSI_LOG_FORMAT` (`plain`, or `hclog`/`json`); plain by
    /// default.
    pub fn from_env() -> Self {
        match std::env::var("CSI_LOG_FORMAT")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "hclog" | "json" => LogFormat::Hclog,
            _ => LogFormat::Plain,
        }
    }
}

/// The level from `CSI_LOG_LEVEL` (`trace` ... `error`); `info` by default.
pub fn level_from_env() -> Level {
    match std::env::var("CSI_LOG_LEVEL")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "trace" => Level::TRACE,
        "debug" => Level::DEBUG,
        "warn" | "warning" => Level::WARN,
        "error" => Level::ERROR,
        _ => Level::INFO,
    }
}

/// Installs a global `tracing` subscriber writing to stderr in `format` up
/// to `level` (does nothing if one is installed already).
pub fn init_logging(name: &str, format: LogFormat, level: Level) {
    use tracing_subscriber::layer::SubscriberExt;
    let _ = match format {
        LogFormat::Hclog => tracing::subscriber::set_global_default(
            tracing_subscriber::registry()
                .with(crate::runtime::logging::HclogLayer::new(name, level)),
        ),
        LogFormat::Plain => tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_max_level(level)
                .with_target(false)
                .finish(),
        ),
    };
}

/// Serves `plugin` as a CSI plugin: the one line of its `main`. Logging
/// from `CSI_LOG_FORMAT`/`CSI_LOG_LEVEL`, the endpoint from `--endpoint` or
/// `CSI_ENDPOINT`, serve until SIGTERM or SIGINT. Returns
/// [`ExitCode::SUCCESS`] after a clean stop and status 1 when it cannot
/// serve.
pub fn serve(plugin: CsiPlugin) -> ExitCode {
    let name = std::env::args()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "csi-plugin".into());
    init_logging(&name, LogFormat::from_env(), level_from_env());
    let result = Endpoint::from_args_or_env(std::env::args().skip(1)).and_then(|endpoint| {
        crate::runtime::plugin_runtime()
            .map_err(ServeError::Runtime)?
            .block_on(serve_at(plugin, ServeOptions::new(endpoint)))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "CSI plugin failed");
            crate::runtime::print_stderr(&format!("{name}: {e}\n"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        for ok in [
            "unix:///csi/csi.sock",
            "unix:/csi/csi.sock",
            "/csi/csi.sock",
        ] {
            assert_eq!(
                Endpoint::parse(ok).unwrap().path(),
                Path::new("/csi/csi.sock")
            );
        }
        for bad in ["tcp://127.0.0.1:1", "csi.sock", "unix://relative"] {
            assert!(matches!(
                Endpoint::parse(bad),
                Err(ServeError::BadEndpoint(_))
            ));
        }
        let e = Endpoint::from_args_or_env(["--x".into(), "--endpoint=/a/b".into()]).unwrap();
        assert_eq!(e.path(), Path::new("/a/b"));
        let e = Endpoint::from_args_or_env(["--endpoint".into(), "unix:///c".into()]).unwrap();
        assert_eq!(e.path(), Path::new("/c"));
    }

    #[test]
    fn stale_socket_is_removed_but_not_files() {
        let dir = std::env::temp_dir().join(format!("csi-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("csi.sock");
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        clear_stale_socket(&sock).unwrap();
        assert!(!sock.exists());
        let live = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert!(matches!(
            clear_stale_socket(&sock),
            Err(ServeError::InUse(_))
        ));
        drop(live);
        std::fs::remove_file(&sock).unwrap();
        std::fs::write(&sock, b"data").unwrap();
        assert!(matches!(
            clear_stale_socket(&sock),
            Err(ServeError::NotASocket(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn socket_gets_the_configured_mode() {
        let dir = std::env::temp_dir().join(format!("csi-mode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (options, mode) in [
            (
                ServeOptions::new(
                    Endpoint::parse(&format!("unix://{}/a/csi.sock", dir.display())).unwrap(),
                ),
                0o660,
            ),
            (
                ServeOptions::new(
                    Endpoint::parse(&format!("unix://{}/b/csi.sock", dir.display())).unwrap(),
                )
                .socket_mode(0o600),
                0o600,
            ),
        ] {
            let bound = bind(&options).unwrap();
            let meta = std::fs::metadata(bound.path()).unwrap();
            assert!(meta.file_type().is_socket());
            assert_eq!(
                meta.permissions().mode() & 0o777,
                mode,
                "{:?}",
                bound.path()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

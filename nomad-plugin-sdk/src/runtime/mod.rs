//! The go-plugin server side, shared by every gRPC plugin kind.
//!
//! A plugin binary started by Nomad (or the autoscaler, or the testkit) must:
//! check the magic cookie, pick a protocol version, listen on a Unix socket,
//! print exactly one handshake line on stdout, then serve gRPC: health,
//! go-plugin's controller, stdio and broker services, and the plugin's own
//! services. [`serve`] does all of that for a set of tonic services; the
//! per-kind `serve` functions of this crate build on it, so most plugin
//! authors never call it directly.
//!
//! | step | what the runtime does |
//! |---|---|
//! | cookie | refuses to run without it, printing go-plugin's message, exit status 1 |
//! | versions | announces the plugin's version; the host reports a mismatch |
//! | listener | `plugin<digits>` socket in `PLUGIN_UNIX_SOCKET_DIR`/`TMPDIR`/`/tmp`, group and mode from `PLUGIN_UNIX_SOCKET_GROUP`; TCP on 127.0.0.1 within `PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT` when asked |
//! | handshake | `1|VERSION|unix|PATH|grpc|` on stdout, flushed, after the socket is bound |
//! | stdio | later stdout output streams to the host through `plugin.GRPCStdio`; fd 2 stays the host's stderr |
//! | logging | `tracing` events as go-hclog JSON on the real stderr ([`logging`]) |
//! | stop | `plugin.GRPCController/Shutdown` or SIGTERM; SIGINT is ignored as in Go plugins; the socket file is removed |
//! | threads | a tokio runtime with at most 2 worker threads (`TOKIO_WORKER_THREADS` overrides it): a plugin serves one host, and idle workers on a many-core node cost memory |
//!
//! ## Attach mode, for debugging
//!
//! A plugin is normally started by its host, which it cannot be under a
//! debugger. Start it by hand with [`ATTACH_ENV`]`=1` instead (for
//! example `NOMAD_PLUGIN_ATTACH=1 rust-gdb target/debug/my-driver`): the
//! runtime skips the magic-cookie refusal, keeps stdout and stderr on the
//! terminal, stops on Ctrl-C, and prints where it serves on stderr:
//!
//! ```text
//! NOMAD_PLUGIN_ATTACH: serving without a host at /tmp/plugin123 (pid 4242)
//!   attach with: nomad-plugin-testkit check PLUGIN_BIN --attach /tmp/plugin123,4242
//! ```
//!
//! `nomad-plugin-testkit check|launch PLUGIN_BIN --attach ADDR,PID` then
//! runs a suite or the REPL against that process instead of starting one,
//! like Terraform's `TF_REATTACH_PROVIDERS`. Nomad itself has no such mode:
//! never set the variable on a plugin an agent starts.

mod broker;
mod controller;
mod env;
mod error;
pub mod handshake;
mod listener;
pub mod logging;
#[cfg(feature = "automtls")]
pub(crate) mod mtls;
pub(crate) mod policy;
mod stdio;
#[allow(unused_imports)] // unused without the csi feature
pub(crate) use stdio::print_stderr;

use std::process::ExitCode;
use std::time::Duration;

use futures::FutureExt;
use nomad_plugin_proto::go_plugin::grpc_broker_server::GrpcBrokerServer;
use nomad_plugin_proto::go_plugin::grpc_controller_server::GrpcControllerServer;
use nomad_plugin_proto::go_plugin::grpc_stdio_server::GrpcStdioServer;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic::transport::Server;

pub use env::PluginEnv;
pub use error::ServeError;
pub use handshake::{Handshake, HandshakeLine, Network};

/// The environment variable that starts a plugin in attach mode (see the
/// [module docs](self)): set it to `1` or `true`.
pub const ATTACH_ENV: &str = "NOMAD_PLUGIN_ATTACH";

/// The largest gRPC message a plugin accepts. Go hosts send messages of up
/// to 2 GiB; task configs and driver state are far smaller, but the 4 MiB
/// default is too tight for some exec payloads and recovered state.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Applies the message-size limits to a generated tonic server, in both
/// directions: every kind's services are built through it, so the limits
/// are set here and nowhere else.
macro_rules! limit_message_size {
    ($server:expr) => {
        $server
            .max_decoding_message_size($crate::runtime::MAX_MESSAGE_SIZE)
            .max_encoding_message_size($crate::runtime::MAX_MESSAGE_SIZE)
    };
}
#[allow(unused_imports)] // unused when no gRPC kind is enabled
pub(crate) use limit_message_size;

/// How many streams one connection may make the plugin reset because of a
/// protocol error over its lifetime before the plugin closes it with
/// `GOAWAY(ENHANCE_YOUR_CALM, "too_many_internal_resets")`. h2's own
/// default is 1,024; a Nomad client's connection lives as long as the
/// plugin, hence more.
pub const MAX_LOCAL_ERROR_RESETS: usize = 64 * 1024;

/// The HTTP/2 connection window the plugin grants each client: request
/// bytes a client may have in flight before the plugin reads them. h2
/// allows unread small frames worth half of it (about 47,000 unary calls at
/// 16 MiB) before it closes the connection as abusive.
pub const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// How the runtime serves, in types rather than environment variables, so
/// tests and unusual hosts need no global state.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Cookie and protocol version.
    pub handshake: Handshake,
    /// What the host put in the environment.
    pub env: PluginEnv,
    /// Listen on a Unix socket (the default on Unix, as go-plugin does) or
    /// on loopback TCP.
    pub network: Network,
    /// Point fd 1 at the stdio stream after the handshake, as a Go plugin
    /// does with `os.Stdout`; fd 2 stays the host's stderr, where log lines,
    /// panic messages and child processes' stderr reach the agent's log.
    /// Turn off when the runtime is embedded in a test process.
    pub redirect_stdio: bool,
    /// Ignore SIGINT and stop on SIGTERM. Turn off when embedding.
    pub handle_signals: bool,
    /// How long in-flight calls may take to finish once a stop is asked
    /// for; streams still open then are cut. Keep it well under the two
    /// seconds go-plugin hosts wait before they kill the process.
    pub shutdown_grace: Duration,
}

impl ServeConfig {
    /// The configuration a plugin started by its host uses: the process
    /// environment, a Unix socket, stdio redirection and signal handling.
    pub fn from_process(handshake: Handshake) -> Self {
        ServeConfig {
            env: PluginEnv::from_process(&handshake),
            handshake,
            network: Network::Unix,
            redirect_stdio: true,
            handle_signals: true,
            shutdown_grace: Duration::from_millis(800),
        }
    }

    /// A configuration for embedding the runtime in a test: the given
    /// environment, no stdio redirection, no signal handling.
    pub fn embedded(handshake: Handshake, env: PluginEnv) -> Self {
        ServeConfig {
            handshake,
            env,
            network: Network::Unix,
            redirect_stdio: false,
            handle_signals: false,
            shutdown_grace: Duration::from_millis(800),
        }
    }
}

/// Where the handshake line goes. [`serve`] writes it to stdout; tests can
/// collect it instead.
pub trait HandshakeSink: Send {
    /// Delivers the line (without its newline).
    fn announce(&mut self, line: &HandshakeLine) -> std::io::Result<()>;
}

/// Writes the handshake line to the process's real stdout and flushes it.
/// When stdio is redirected, that is the original stdout kept aside, which
/// nothing else writes to.
#[derive(Debug, Default)]
pub struct Stdout;

impl HandshakeSink for Stdout {
    fn announce(&mut self, line: &HandshakeLine) -> std::io::Result<()> {
        stdio::write_real_stdout(&format!("{line}\n"))
    }
}

impl<F> HandshakeSink for F
where
    F: FnMut(&HandshakeLine) -> std::io::Result<()> + Send,
{
    fn announce(&mut self, line: &HandshakeLine) -> std::io::Result<()> {
        self(line)
    }
}

/// Serves `services` (the plugin's own tonic services) behind go-plugin's
/// handshake until the host asks the plugin to stop.
///
/// Returns `Ok(())` after a clean stop. Every failure before the handshake
/// line is written comes back as an error, with nothing printed on stdout.
pub async fn serve(
    config: ServeConfig,
    services: Routes,
    sink: impl HandshakeSink,
) -> Result<(), ServeError> {
    serve_with(config, || services, sink).await
}

/// Like [`serve`], but builds the services only after stdout is
/// redirected, so nothing the plugin's set-up code prints can reach the
/// host before the handshake line.
pub async fn serve_with(
    config: ServeConfig,
    services: impl FnOnce() -> Routes,
    mut sink: impl HandshakeSink,
) -> Result<(), ServeError> {
    config.env.check_cookie(&config.handshake)?;
    let redirected = if config.redirect_stdio {
        Some(stdio::redirect().map_err(ServeError::Stdio)?)
    } else {
        None
    };
    let services = services();
    let negotiated = config.handshake.negotiate(&config.env.protocol_versions);
    if !negotiated.host_listed_it && !config.env.attach {
        tracing::warn!(
            plugin_version = negotiated.version,
            host_versions = ?config.env.protocol_versions,
            "the host does not list this plugin's protocol version; it will refuse the plugin"
        );
    }

    if let Some(asked) = &config.env.multiplex_grpc {
        if asked.trim().eq_ignore_ascii_case("true") || asked.trim() == "1" {
            tracing::warn!(
                "the host asked for go-plugin's multiplexed gRPC broker (PLUGIN_MULTIPLEX_GRPC), \
                 which this plugin does not support; answering `false`, so a host that requires it \
                 refuses the plugin (Nomad never asks for it)"
            );
        }
    }
    let bound = match config.network {
        Network::Unix => listener::bind_unix(&config.env)?,
        Network::Tcp => listener::bind_tcp(&config.env).await?,
    };

    #[cfg(feature = "automtls")]
    let tls = match &config.env.client_cert {
        Some(pem) => Some(mtls::server(pem)?),
        None => None,
    };
    #[cfg(not(feature = "automtls"))]
    if config.env.client_cert.is_some() {
        return Err(ServeError::Tls(
            "the host asked for AutoMTLS (PLUGIN_CLIENT_CERT) but this plugin was built without \
             nomad-plugin-sdk's `automtls` feature"
                .into(),
        ));
    }
    #[cfg(feature = "automtls")]
    let server_cert = tls
        .as_ref()
        .map(|t| t.cert_field.clone())
        .unwrap_or_default();
    #[cfg(not(feature = "automtls"))]
    let server_cert = String::new();

    let (stop_tx, stop_rx) = watch::channel(false);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;

    let line = HandshakeLine {
        protocol_version: negotiated.version,
        network: bound.network(),
        address: bound.address(),
        server_cert,
        // Broker connections are never multiplexed over the listener: a
        // host that asks (PLUGIN_MULTIPLEX_GRPC) gets `false` in the 7th
        // field, which go-plugin's client refuses with
        // ErrGRPCBrokerMuxNotSupported when it requires multiplexing, and
        // accepts otherwise. Nomad never asks.
        multiplex: config.env.multiplex_grpc.as_ref().map(|_| false),
    };
    sink.announce(&line).map_err(ServeError::Handshake)?;
    if config.env.attach {
        logging::write_raw(&format!(
            "{ATTACH_ENV}: serving without a host at {} (pid {})\n  attach with: nomad-plugin-testkit check PLUGIN_BIN --attach {},{}\n",
            line.address,
            std::process::id(),
            line.address,
            std::process::id()
        ));
    }

    let stdio = match redirected {
        Some(pipes) => stdio::StdioForwarder::start(pipes).map_err(ServeError::Stdio)?,
        None => stdio::StdioForwarder::idle(),
    };

    let _signals = if config.handle_signals {
        Some(watch_signals(stop_tx.clone(), config.env.attach)?)
    } else {
        None
    };

    let router = Server::builder()
        // tonic passes "no limit" to h2 unless told otherwise, which turns
        // off h2's guard against a peer that makes the server reset
        // streams with malformed frames ("MadeYouReset"). The limit counts
        // such resets over a connection's whole life, and a Nomad client
        // keeps its connection for as long as the plugin runs, so it is set
        // well above what a well-behaved client can cause (frames for
        // streams the plugin ended and has forgotten; streams the client
        // cancels are not counted) yet finite.
        .http2_max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        // h2 closes a connection (GOAWAY "too_many_data_frames") when the
        // small DATA frames it holds unread cost more than half the
        // connection window. Every unary gRPC request is one such frame,
        // so with the 1 MiB default a client that opens a few thousand
        // calls at once (one WaitTask per task) lost its connection.
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        // Panic catching and per-RPC tracing for every service, whatever
        // the plugin kind.
        .layer(policy::RpcPolicyLayer)
        .add_routes(services)
        .add_service(health)
        .add_service(GrpcControllerServer::new(controller::Controller {
            stop: stop_tx.clone(),
        }))
        .add_service(GrpcStdioServer::new(stdio.until(stop_rx.clone())))
        .add_service(GrpcBrokerServer::new(broker::Broker));

    let mut shutdown_rx = stop_rx.clone();
    let shutdown = async move {
        let _ = shutdown_rx.wait_for(|stop| *stop).await;
    };

    tracing::debug!(address = %line.address, network = line.network.as_str(), "plugin serving");
    let (server, socket) = match bound {
        listener::Bound::Unix { listener, socket } => {
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            #[cfg(feature = "automtls")]
            if let Some(tls) = tls {
                let incoming = mtls::accept_stream(tls.acceptor, incoming);
                return finish_serving(
                    spawn_server(router, incoming, shutdown),
                    Some(socket),
                    stop_rx,
                    stop_tx,
                    config.shutdown_grace,
                )
                .await;
            }
            (spawn_server(router, incoming, shutdown), Some(socket))
        }
        listener::Bound::Tcp { listener, .. } => {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            #[cfg(feature = "automtls")]
            if let Some(tls) = tls {
                let incoming = mtls::accept_stream(tls.acceptor, incoming);
                return finish_serving(
                    spawn_server(router, incoming, shutdown),
                    None,
                    stop_rx,
                    stop_tx,
                    config.shutdown_grace,
                )
                .await;
            }
            (spawn_server(router, incoming, shutdown), None)
        }
    };
    finish_serving(server, socket, stop_rx, stop_tx, config.shutdown_grace).await
}

/// The plugin's server: every service behind the [`policy`] layer.
type PluginRouter = tonic::transport::server::Router<
    tower::layer::util::Stack<policy::RpcPolicyLayer, tower::layer::util::Identity>,
>;

/// Runs the router over `incoming` in a task of its own.
fn spawn_server<I, IO, IE>(
    router: PluginRouter,
    incoming: I,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> ServerTask
where
    I: futures::Stream<Item = Result<IO, IE>> + Send + 'static,
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
    IO::ConnectInfo: Clone + Send + Sync + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    tokio::spawn(router.serve_with_incoming_shutdown(incoming, shutdown)).boxed()
}

async fn finish_serving(
    server: ServerTask,
    socket: Option<listener::SocketFile>,
    stop_rx: watch::Receiver<bool>,
    stop_tx: watch::Sender<bool>,
    grace: Duration,
) -> Result<(), ServeError> {
    let result = finish(server, stop_rx, grace).await;
    drop(socket);
    drop(stop_tx);
    tracing::debug!("plugin stopped");
    result
}

type ServerTask = futures::future::BoxFuture<
    'static,
    Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
>;

/// Waits for the server to end or for a stop request; after a stop, gives
/// in-flight calls `grace` to finish and then cuts the rest.
async fn finish(
    mut server: ServerTask,
    mut stop_rx: watch::Receiver<bool>,
    grace: Duration,
) -> Result<(), ServeError> {
    tokio::select! {
        res = &mut server => return flatten(res),
        _ = stop_rx.wait_for(|stop| *stop) => {}
    }
    match tokio::time::timeout(grace, &mut server).await {
        Ok(res) => flatten(res),
        // Streams the host did not close in time: dropping the task ends
        // the accept loop; the process exits right after.
        Err(_) => Ok(()),
    }
}

fn flatten(
    res: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<(), ServeError> {
    match res {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ServeError::Transport(e)),
        Err(e) => Err(ServeError::Io {
            context: "the gRPC server task failed",
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

/// Ignores SIGINT (the host owns Ctrl-C: plugins share its process group)
/// and turns SIGTERM into a stop request.
/// SIGTERM stops the plugin; SIGINT is ignored as go-plugin plugins ignore
/// it (a host's Ctrl-C reaches its plugins too), except in attach mode,
/// where Ctrl-C at the plugin's own terminal stops it.
fn watch_signals(
    stop: watch::Sender<bool>,
    stop_on_interrupt: bool,
) -> Result<tokio::task::JoinHandle<()>, ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let io = |source| ServeError::Io {
        context: "installing signal handlers",
        source,
    };
    let mut int = signal(SignalKind::interrupt()).map_err(io)?;
    let mut term = signal(SignalKind::terminate()).map_err(io)?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = int.recv() => {
                    if stop_on_interrupt {
                        tracing::debug!("plugin received SIGINT in attach mode, stopping");
                        let _ = stop.send(true);
                    } else {
                        tracing::trace!("plugin received interrupt signal, ignoring");
                    }
                }
                Some(()) = term.recv() => {
                    tracing::debug!("plugin received SIGTERM, stopping");
                    let _ = stop.send(true);
                }
                else => return,
            }
        }
    }))
}

/// The most worker threads a plugin's async runtime starts unless
/// `TOKIO_WORKER_THREADS` says otherwise.
///
/// tokio's default is one per core. A plugin serves one host over one
/// connection, and its work per call is small (the heavy lifting is in the
/// tasks it runs), so on a 64-core client node the default gives 64 idle
/// threads, each with a stack and, once it has allocated, its own malloc
/// arena that keeps freed memory. Measured with the runtime probe: 33
/// threads (the default on 32 cores, emulated with
/// `TOKIO_WORKER_THREADS=32`) hold 4.8 MiB resident against 4.5 MiB with 2.
pub(crate) const MAX_WORKER_THREADS: usize = 2;

/// Worker threads for a plugin's runtime: `TOKIO_WORKER_THREADS` when set to
/// a positive number (tokio's own variable, for an operator who wants
/// more), otherwise the cores available, at most [`MAX_WORKER_THREADS`].
fn worker_threads() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(MAX_WORKER_THREADS)
        })
}

/// The async runtime every plugin kind runs on.
pub(crate) fn plugin_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .enable_all()
        .build()
}

/// Runs a plugin binary's whole life: the entry point behind every per-kind
/// `serve` function, returning the process's exit code.
///
/// Checks the cookie before anything else (printing go-plugin's message and
/// returning status 1 when it is wrong), installs hclog logging under
/// `name`, builds a tokio runtime, serves `services()` and returns
/// [`ExitCode::SUCCESS`] when the host stops the plugin. On any serve error
/// it logs the error, prints it on stderr and returns status 1.
pub fn run(handshake: Handshake, name: &str, services: impl FnOnce() -> Routes) -> ExitCode {
    let mut config = ServeConfig::from_process(handshake);
    // Started by hand: no host reads the stdio stream, so output stays on
    // the terminal.
    config.redirect_stdio &= !config.env.attach;
    if config.env.check_cookie(&handshake).is_err() {
        stdio::print_stderr(handshake::NOT_A_HOST_MESSAGE);
        return ExitCode::FAILURE;
    }
    for bad in &config.env.invalid_protocol_versions {
        stdio::print_stderr(&format!("server sent invalid plugin version {bad:?}"));
    }
    logging::init(name);
    let runtime = match plugin_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            stdio::print_stderr(&format!("{name}: could not start the async runtime: {e}\n"));
            return ExitCode::FAILURE;
        }
    };
    let redirect = config.redirect_stdio;
    if redirect {
        stdio::watch_stderr();
    }
    let result = runtime.block_on(serve_with(config, services, Stdout));
    runtime.shutdown_timeout(Duration::from_millis(200));
    if redirect {
        stdio::release_stdout();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "plugin failed");
            stdio::print_stderr(&format!("{name}: {e}\n"));
            ExitCode::FAILURE
        }
    }
}

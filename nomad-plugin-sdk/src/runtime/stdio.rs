//! `plugin.GRPCStdio`: what the plugin writes to stdout after the handshake
//! is streamed to the host, as go-plugin does.
//!
//! After the handshake line the runtime points file descriptor 1 at a pipe
//! it reads itself, so nothing plugin code prints can come before or
//! corrupt that line. Chunks are at most 1 KiB, like go-plugin's. When no
//! host is streaming, output is dropped rather than blocking the plugin.
//!
//! File descriptor 2 stays the host's stderr. go-plugin swaps only Go's
//! `os.Stderr` variable, so whatever a Go plugin writes to fd 2 itself (a
//! runtime crash, a C library, a child process inheriting it) reaches the
//! agent's log, at debug level for lines that are not hclog JSON; Nomad
//! discards the `GRPCStdio` stream. In Rust, `eprintln!` is itself a write
//! to fd 2, so leaving fd 2 alone is the equivalent: log lines (see
//! [`super::logging`]), panic messages, an abort's or a stack overflow's
//! last words and a child's stderr all reach the agent.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::Stream;
use nomad_plugin_proto::go_plugin::grpc_stdio_server::GrpcStdio;
use nomad_plugin_proto::go_plugin::stdio_data::Channel;
use nomad_plugin_proto::go_plugin::StdioData;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, Mutex};
use tonic::{Request, Response, Status};

const CHUNK: usize = 1024;

fn cvt(rc: libc::c_int) -> std::io::Result<libc::c_int> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The read end of the pipe now behind fd 1.
pub(crate) struct Redirected {
    stdout: OwnedFd,
}

/// The process's real stdout, kept aside when fd 1 is redirected: only the
/// handshake line is ever written to it, so nothing plugin code prints can
/// come before or corrupt that line.
static REAL_STDOUT: std::sync::OnceLock<std::sync::Mutex<std::fs::File>> =
    std::sync::OnceLock::new();

/// Writes the handshake line to the real stdout (the redirected-away one when
/// stdio is redirected, fd 1 otherwise) and flushes it.
pub(crate) fn write_real_stdout(line: &str) -> std::io::Result<()> {
    use std::io::Write;
    match REAL_STDOUT.get() {
        Some(m) => {
            let mut f = m
                .lock()
                .map_err(|_| std::io::Error::other("stdout lock poisoned"))?;
            f.write_all(line.as_bytes())?;
            f.flush()
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(line.as_bytes())?;
            out.flush()
        }
    }
}

fn dup_cloexec(fd: RawFd) -> std::io::Result<std::fs::File> {
    // SAFETY: duplicating a descriptor number; the result is checked.
    let new = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: fcntl returned a new descriptor that nothing else owns.
    Ok(unsafe { std::fs::File::from_raw_fd(new) })
}

/// Keeps the real stdout aside (the handshake line goes there), then puts a
/// pipe behind fd 1. Fd 2 is left as it is.
pub(crate) fn redirect() -> std::io::Result<Redirected> {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let real_out = dup_cloexec(1)?;
    if REAL_STDOUT.set(std::sync::Mutex::new(real_out)).is_err() {
        return Err(std::io::Error::other(
            "stdio was already redirected in this process",
        ));
    }
    let (out_r, out_w) = pipe()?;
    // SAFETY: dup2 onto the standard output descriptor; the write end stays
    // open through fd 1 after `out_w` is dropped.
    cvt(unsafe { libc::dup2(out_w.as_raw_fd(), 1) })?;
    Ok(Redirected { stdout: out_r })
}

/// Writes `text` to stderr, ignoring errors: a host that closed our stderr
/// must not turn an exit message into a panic (`eprintln!` panics on
/// `EPIPE`).
pub(crate) fn print_stderr(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Points fd `fd` at `/dev/null`.
fn to_dev_null(fd: RawFd) -> std::io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    // SAFETY: dup2 of a descriptor we own onto a standard descriptor.
    cvt(unsafe { libc::dup2(null.as_raw_fd(), fd) })?;
    Ok(())
}

/// Once the plugin stops serving, nobody reads the stdout pipe any more:
/// point fd 1 at `/dev/null`, so a late `println!` (a destructor, an exit
/// message) neither fails with `EPIPE`, which `println!` turns into a
/// panic, nor blocks on a full pipe.
pub(crate) fn release_stdout() {
    if REAL_STDOUT.get().is_some() {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = to_dev_null(1);
    }
}

/// When fd 2 is a pipe (it is under go-plugin), watches for its reader to
/// go away (the agent died; after a reattach nobody reads it again) and
/// then points fd 2 at `/dev/null`: logging keeps costing nothing, and
/// `eprintln!` anywhere in the plugin cannot panic with `EPIPE`.
pub(crate) fn watch_stderr() {
    // SAFETY: fstat on fd 2 into a zeroed stat buffer; the result is checked.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(2, &mut st) } != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFIFO {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("stderr-watch".into())
        .stack_size(64 * 1024)
        .spawn(|| loop {
            // No events asked: poll(2) reports only POLLERR/POLLHUP, which
            // a pipe's write end gets when its last reader closes.
            let mut pfd = libc::pollfd {
                fd: 2,
                events: 0,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, -1) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            if pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                let _ = to_dev_null(2);
                return;
            }
        });
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "could not start the stderr watcher");
    }
}

/// Serves `StreamStdio` from the redirected stdout.
#[derive(Clone)]
pub(crate) struct StdioForwarder {
    rx: Arc<Mutex<mpsc::Receiver<StdioData>>>,
    listeners: Arc<AtomicUsize>,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl StdioForwarder {
    /// Starts copying the stdout pipe; must run inside a tokio runtime.
    pub(crate) fn start(pipes: Redirected) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(64);
        let listeners = Arc::new(AtomicUsize::new(0));
        let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(pipes.stdout)?;
        tokio::spawn(copy(reader, Channel::Stdout, tx, listeners.clone()));
        Ok(StdioForwarder {
            rx: Arc::new(Mutex::new(rx)),
            listeners,
            stop: None,
        })
    }

    /// A forwarder with nothing behind it (stdio not redirected): the stream
    /// stays open and sends nothing.
    pub(crate) fn idle() -> Self {
        let (_tx, rx) = mpsc::channel(1);
        StdioForwarder {
            rx: Arc::new(Mutex::new(rx)),
            listeners: Arc::new(AtomicUsize::new(0)),
            stop: None,
        }
    }

    /// Ends every stdio stream when `stop` turns true, so a stopping plugin
    /// is not held up by a host that keeps its connection open.
    pub(crate) fn until(mut self, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
    }
}

async fn copy(
    mut reader: tokio::net::unix::pipe::Receiver,
    channel: Channel,
    tx: mpsc::Sender<StdioData>,
    listeners: Arc<AtomicUsize>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let data = StdioData {
                    channel: channel as i32,
                    data: buf[..n].to_vec(),
                };
                if listeners.load(Ordering::Acquire) > 0 {
                    if tx.send(data).await.is_err() {
                        return;
                    }
                } else {
                    // Nobody is listening: drop instead of blocking the plugin.
                    let _ = tx.try_send(data);
                }
            }
        }
    }
}

/// Decrements the listener count when a host's stream ends.
struct Listening(Arc<AtomicUsize>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

type StdioStream = Pin<Box<dyn Stream<Item = Result<StdioData, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl GrpcStdio for StdioForwarder {
    type StreamStdioStream = StdioStream;

    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        self.listeners.fetch_add(1, Ordering::AcqRel);
        let guard = Listening(self.listeners.clone());
        let rx = self.rx.clone();
        let stop = self.stop.clone();
        let stream =
            futures::stream::unfold((rx, guard, stop), |(rx, guard, mut stop)| async move {
                let next = match stop.as_mut() {
                    Some(stop) => tokio::select! {
                        next = async { rx.lock().await.recv().await } => next,
                        _ = stop.wait_for(|s| *s) => None,
                    },
                    None => rx.lock().await.recv().await,
                };
                next.map(|data| (Ok(data), (rx, guard, stop)))
            });
        Ok(Response::new(Box::pin(stream)))
    }
}

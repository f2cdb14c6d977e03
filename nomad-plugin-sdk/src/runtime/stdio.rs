//! `plugin.GRPCStdio`: what the plugin writes to stdout and stderr after the
//! handshake is streamed to the host, as go-plugin does.
//!
//! After the handshake line the runtime points file descriptors 1 and 2 at
//! pipes it reads itself; log lines keep going to the original stderr (see
//! [`super::logging`]). Chunks are at most 1 KiB, like go-plugin's. When no
//! host is streaming, output is dropped rather than blocking the plugin.

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

/// The read ends of the pipes now behind fds 1 and 2.
pub(crate) struct Redirected {
    stdout: OwnedFd,
    stderr: OwnedFd,
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

/// Keeps the real stdout and stderr aside (the handshake line and log lines
/// go there), then puts pipes behind fds 1 and 2.
pub(crate) fn redirect() -> std::io::Result<Redirected> {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let real_out = dup_cloexec(1)?;
    let real_err = dup_cloexec(2)?;
    if REAL_STDOUT.set(std::sync::Mutex::new(real_out)).is_err() {
        return Err(std::io::Error::other(
            "stdio was already redirected in this process",
        ));
    }
    super::logging::set_sink(Box::new(real_err));

    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // SAFETY: dup2 onto the standard descriptors; the write ends stay open
    // through fds 1 and 2 after `out_w`/`err_w` are dropped.
    cvt(unsafe { libc::dup2(out_w.as_raw_fd(), 1) })?;
    cvt(unsafe { libc::dup2(err_w.as_raw_fd(), 2) })?;
    Ok(Redirected {
        stdout: out_r,
        stderr: err_r,
    })
}

/// Serves `StreamStdio` from the redirected pipes.
#[derive(Clone)]
pub(crate) struct StdioForwarder {
    rx: Arc<Mutex<mpsc::Receiver<StdioData>>>,
    listeners: Arc<AtomicUsize>,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl StdioForwarder {
    /// Starts copying both pipes; must run inside a tokio runtime.
    pub(crate) fn start(pipes: Redirected) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(64);
        let listeners = Arc::new(AtomicUsize::new(0));
        for (fd, channel) in [
            (pipes.stdout, Channel::Stdout),
            (pipes.stderr, Channel::Stderr),
        ] {
            let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?;
            tokio::spawn(copy(reader, channel, tx.clone(), listeners.clone()));
        }
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

//! Running a CSI plugin binary the way Nomad runs a `csi_plugin` task: in
//! its own directory, told where to listen with `CSI_ENDPOINT`, probed
//! until ready, stopped with SIGTERM.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use super::client::{CsiClient, ProbeError, ProbeOptions};

/// Why a plugin could not be started.
#[derive(Debug, thiserror::Error)]
pub enum CsiLaunchError {
    /// The binary could not be started.
    #[error("cannot start {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The plugin exited before creating its socket.
    #[error("the plugin exited ({status}) before creating {socket}; Nomad would report the plugin task as failed. stderr:\n{stderr}")]
    Exited {
        /// Its exit status.
        status: String,
        /// The socket it should have created.
        socket: PathBuf,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// The socket did not appear in time.
    #[error("the plugin did not create {socket} within {timeout:?}; Nomad would mark the plugin unhealthy. stderr:\n{stderr}")]
    NoSocket {
        /// The socket path.
        socket: PathBuf,
        /// How long we waited.
        timeout: Duration,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// The socket appeared but probing failed.
    #[error("{0}")]
    Probe(#[from] ProbeError),
    /// Setting up the plugin's directory failed.
    #[error("cannot prepare the plugin directory: {0}")]
    Io(#[from] std::io::Error),
}

/// How to start the plugin.
#[derive(Debug, Clone)]
pub struct CsiLaunch {
    binary: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    socket_timeout: Duration,
    probe: ProbeOptions,
}

impl CsiLaunch {
    /// Starts `binary` with Nomad's defaults: the socket must appear and the
    /// plugin must probe ready within 30 s (`health_timeout`), probing every
    /// 5 s after a first probe at once.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        CsiLaunch {
            binary: binary.into(),
            args: Vec::new(),
            env: Vec::new(),
            socket_timeout: Duration::from_secs(30),
            probe: ProbeOptions::default(),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// How long to wait for the socket.
    pub fn socket_timeout(mut self, timeout: Duration) -> Self {
        self.socket_timeout = timeout;
        self
    }

    /// How to probe once the socket exists.
    pub fn probe(mut self, probe: ProbeOptions) -> Self {
        self.probe = probe;
        self
    }

    /// Starts the plugin in a fresh directory (its `mount_dir`), waits for
    /// `csi.sock` and probes it until ready.
    pub async fn start(self) -> Result<CsiPluginProcess, CsiLaunchError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nomad-testkit-csi-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let socket = dir.join("csi.sock");
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args)
            .env("CSI_ENDPOINT", format!("unix://{}", socket.display()))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| CsiLaunchError::Spawn {
            binary: self.binary.clone(),
            source,
        })?;
        let output = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut readers = Vec::new();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            readers.push(tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut o) = output.lock() {
                        o.push(line);
                    }
                }
            }));
        }
        let mut process = CsiPluginProcess {
            child: Some(child),
            dir,
            socket: socket.clone(),
            output,
            readers,
        };
        let pid = process.pid().unwrap_or(0) as i32;
        let timeout = self.socket_timeout;
        let watch = socket.clone();
        let outcome = tokio::task::spawn_blocking(move || wait_for_path(&watch, pid, timeout))
            .await
            .map_err(std::io::Error::other)??;
        match outcome {
            Wait::Appeared => {}
            Wait::Exited => {
                let status = match process.child.as_mut() {
                    Some(c) => c
                        .wait()
                        .await
                        .map(|s| s.to_string())
                        .unwrap_or_else(|e| e.to_string()),
                    None => "unknown".into(),
                };
                return Err(CsiLaunchError::Exited {
                    status,
                    socket,
                    stderr: process.output(),
                });
            }
            Wait::TimedOut => {
                return Err(CsiLaunchError::NoSocket {
                    socket,
                    timeout,
                    stderr: process.output(),
                })
            }
        }
        // The socket file appears at bind(2), a moment before the plugin
        // listens: a connection refused then is a failed probe, retried at
        // Nomad's cadence like any other, not the end of the launch.
        let deadline = Instant::now() + self.probe.health_timeout;
        let client = loop {
            match CsiClient::connect(&process.socket).await {
                Ok(client) => break client,
                Err(e) if Instant::now() + self.probe.interval > deadline => return Err(e.into()),
                Err(e) => {
                    let exited = process
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten());
                    if let Some(status) = exited {
                        return Err(CsiLaunchError::Exited {
                            status: status.to_string(),
                            socket,
                            stderr: process.output(),
                        });
                    }
                    tracing::debug!(error = %e, "CSI plugin not accepting yet; probing again");
                    tokio::time::sleep(self.probe.interval).await;
                }
            }
        };
        client.probe_until_ready(&self.probe).await?;
        Ok(process)
    }
}

/// A running CSI plugin. Dropping it kills the plugin; call
/// [`stop`](Self::stop) to stop it as Nomad does.
pub struct CsiPluginProcess {
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
    output: Arc<Mutex<Vec<String>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

/// How a plugin ended after [`CsiPluginProcess::stop`].
#[derive(Debug)]
pub struct Stopped {
    /// The exit status, or `None` if it had to be killed after the grace
    /// period (Nomad would kill it too, after `kill_timeout`).
    pub status: Option<ExitStatus>,
    /// Everything it wrote to stdout and stderr, complete.
    pub output: String,
}

impl CsiPluginProcess {
    /// The plugin's socket (`<mount_dir>/csi.sock`).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The plugin's directory (Nomad's `mount_dir` on the host).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// A new client on the plugin's socket.
    pub async fn client(&self) -> Result<CsiClient, ProbeError> {
        CsiClient::connect(&self.socket).await
    }

    /// Everything the plugin wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.join("\n")).unwrap_or_default()
    }

    /// Sends SIGTERM (Nomad's default stop signal for most drivers), waits
    /// up to `grace` for the plugin to exit, then kills it; collects all of
    /// its output.
    pub async fn stop(mut self, grace: Duration) -> std::io::Result<Stopped> {
        let status = match self.child.take() {
            None => None,
            Some(mut child) => {
                if let Some(pid) = child.id() {
                    // SAFETY: plain signal to our own child, not yet reaped.
                    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                }
                match tokio::time::timeout(grace, child.wait()).await {
                    Ok(status) => Some(status?),
                    Err(_) => {
                        child.kill().await?;
                        None
                    }
                }
            }
        };
        // The pipes are closed now; let the readers reach end of file.
        for reader in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(grace, reader).await;
        }
        Ok(Stopped {
            status,
            output: self.output(),
        })
    }
}

impl Drop for CsiPluginProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // kill_on_drop would do it too; reaping then happens in tokio's
            // background orphan reaper.
            let _ = child.start_kill();
            let _ = child.try_wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

enum Wait {
    Appeared,
    Exited,
    TimedOut,
}

/// Waits, without polling in a loop, until `path` exists (inotify on its
/// directory) or process `pid` exits (pidfd), or `timeout` passes.
fn wait_for_path(path: &Path, pid: i32, timeout: Duration) -> std::io::Result<Wait> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let cdir = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: plain syscalls; descriptors are checked and closed below.
    let ino = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if ino < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let close = |fd: i32| unsafe { libc::close(fd) };
    // SAFETY: valid descriptor and path.
    if unsafe { libc::inotify_add_watch(ino, cdir.as_ptr(), libc::IN_CREATE | libc::IN_MOVED_TO) }
        < 0
    {
        let e = std::io::Error::last_os_error();
        close(ino);
        return Err(e);
    }
    // SAFETY: plain syscall.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    let deadline = Instant::now() + timeout;
    let result = loop {
        if path.exists() {
            break Wait::Appeared;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Wait::TimedOut;
        }
        let mut fds = [
            libc::pollfd {
                fd: ino,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let n_fds = if pidfd >= 0 { 2 } else { 1 };
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: valid pollfd array of n_fds entries.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), n_fds, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            close_fds(ino, pidfd);
            return Err(e);
        }
        if fds[0].revents != 0 {
            let mut buf = [0u8; 4096];
            // SAFETY: reading into a local buffer of the given size.
            while unsafe { libc::read(ino, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
        }
        if n_fds == 2 && fds[1].revents != 0 {
            break if path.exists() {
                Wait::Appeared
            } else {
                Wait::Exited
            };
        }
    };
    close_fds(ino, pidfd);
    Ok(result)
}

fn close_fds(ino: i32, pidfd: i32) {
    // SAFETY: closing descriptors this function opened.
    unsafe {
        libc::close(ino);
        if pidfd >= 0 {
            libc::close(pidfd);
        }
    }
}

//! Process plumbing shared by the exec-based kinds: stdio protection, log
//! capture, the runtime and the deadline/panic guard around an operation.

use std::future::Future;
use std::io::{self, Write};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;

/// Where output that bypasses the SDK (a `println!`, a child process that
/// inherits stdout or stderr) ends up while the plugin runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrayOutput {
    /// Stray stdout goes to stderr; stderr stays stderr. For host volumes,
    /// whose stderr Nomad logs.
    ToStderr,
    /// Both go to `/dev/null`. For secret providers, whose stderr on success
    /// can crash the Nomad agent.
    Discard,
}

/// The real stdout/stderr, saved before fds 1 and 2 are redirected.
pub(crate) struct StdioGuard {
    stdout: Box<dyn Write + Send>,
    stderr: Box<dyn Write + Send>,
}

impl StdioGuard {
    /// Saves the real stdout and stderr and redirects fds 1 and 2 as `stray`
    /// says. If the redirection is impossible (no `/dev/null`, fds closed) the
    /// guard still works, writing to the unredirected streams.
    pub(crate) fn install(stray: StrayOutput) -> Self {
        #[cfg(unix)]
        if let Some(guard) = unix::install(stray) {
            return guard;
        }
        let _ = stray;
        Self {
            stdout: Box::new(io::stdout()),
            stderr: Box::new(io::stderr()),
        }
    }

    /// Writes the final answer to the real stdout.
    pub(crate) fn write_stdout(&mut self, bytes: &[u8]) -> io::Result<()> {
        // Anything a `print!` left in std's buffer goes to the redirected fd 1
        // first, never after the answer.
        let _ = io::stdout().flush();
        self.stdout.write_all(bytes)?;
        self.stdout.flush()
    }

    /// Writes diagnostics to the real stderr.
    pub(crate) fn write_stderr(&mut self, bytes: &[u8]) {
        let _ = self.stderr.write_all(bytes);
        let _ = self.stderr.flush();
    }
}

#[cfg(unix)]
mod unix {
    use super::{StdioGuard, StrayOutput};
    use std::fs::{File, OpenOptions};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    /// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`: a close-on-exec copy of `fd`, so
    /// children never inherit the real stdout.
    fn dup_cloexec(fd: RawFd) -> Option<OwnedFd> {
        // SAFETY: fcntl with F_DUPFD_CLOEXEC only reads `fd`; a non-negative
        // result is a new descriptor that nothing else owns.
        let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        // SAFETY: see above; the descriptor is open and exclusively ours.
        (new >= 0).then(|| unsafe { OwnedFd::from_raw_fd(new) })
    }

    fn redirect(from: &File, to: RawFd) -> Option<()> {
        // SAFETY: dup2 on two open descriptors; `to` is 1 or 2, which stay
        // owned by the process's std handles.
        (unsafe { libc::dup2(from.as_raw_fd(), to) } >= 0).then_some(())
    }

    pub(super) fn install(stray: StrayOutput) -> Option<StdioGuard> {
        let real_out = File::from(dup_cloexec(libc::STDOUT_FILENO)?);
        let real_err = File::from(dup_cloexec(libc::STDERR_FILENO)?);
        match stray {
            StrayOutput::ToStderr => redirect(&real_err, libc::STDOUT_FILENO)?,
            StrayOutput::Discard => {
                let null = OpenOptions::new().write(true).open("/dev/null").ok()?;
                redirect(&null, libc::STDOUT_FILENO)?;
                redirect(&null, libc::STDERR_FILENO)?;
            }
        }
        Some(StdioGuard {
            stdout: Box::new(real_out),
            stderr: Box::new(real_err),
        })
    }
}

/// A cloneable in-memory log sink for `tracing`.
#[derive(Clone, Default)]
pub(crate) struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub(crate) fn take(&self) -> Vec<u8> {
        match self.0.lock() {
            Ok(mut guard) => std::mem::take(&mut *guard),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.lock() {
            Ok(mut guard) => guard.extend_from_slice(buf),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Installs a global `tracing` subscriber writing plain text to `writer`,
/// unless the program already installed one (then this does nothing).
pub(crate) fn install_logger<W>(writer: W, level: tracing::Level)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_target(false)
        .with_writer(writer)
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// How an operation guarded by [`guarded`] ended without an answer.
#[derive(Debug)]
pub(crate) enum Interrupted {
    /// The SDK's deadline passed.
    TimedOut(Duration),
    /// The plugin's code panicked; the panic message.
    Panicked(String),
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TimedOut(limit) => write!(
                f,
                "did not finish within {} (the plugin stops itself before Nomad kills it)",
                humanize(*limit)
            ),
            Self::Panicked(msg) => write!(f, "the plugin panicked: {msg}"),
        }
    }
}

pub(crate) fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Runs `fut` with a deadline, turning a panic into an error value.
pub(crate) async fn guarded<T>(
    limit: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, Interrupted> {
    match tokio::time::timeout(limit, AssertUnwindSafe(fut).catch_unwind()).await {
        Err(_) => Err(Interrupted::TimedOut(limit)),
        Ok(Err(panic)) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            Err(Interrupted::Panicked(msg))
        }
        Ok(Ok(v)) => Ok(v),
    }
}

/// Builds the single-threaded runtime a one-shot plugin needs.
pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn guarded_reports_timeouts_and_panics() {
        let r = guarded(Duration::from_millis(10), std::future::pending::<()>()).await;
        assert!(matches!(r, Err(Interrupted::TimedOut(_))));
        let r = guarded(Duration::from_secs(5), async { panic!("boom {}", 1) }).await;
        match r {
            Err(Interrupted::Panicked(m)) => assert_eq!(m, "boom 1"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            guarded(Duration::from_secs(5), async { 7 }).await.unwrap(),
            7
        );
    }

    #[test]
    fn durations_read_like_nomad_config() {
        assert_eq!(humanize(Duration::from_secs(45)), "45s");
        assert_eq!(humanize(Duration::from_millis(800)), "800ms");
    }
}

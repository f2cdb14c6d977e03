//! Running a plugin executable the way Nomad's client does.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

/// What Nomad does when a plugin outlives its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillPolicy {
    /// SIGKILL at once (host volume plugins: Go's default context cancel).
    Kill,
    /// SIGTERM, then SIGKILL after the grace period (secret providers:
    /// 2 s).
    TermThenKill(Duration),
}

/// One plugin process to run: the executable, its arguments, and the only
/// environment it will see.
#[derive(Debug, Clone)]
pub struct PluginCommand {
    executable: PathBuf,
    args: Vec<OsString>,
    env: BTreeMap<String, String>,
    cwd: PathBuf,
    timeout: Duration,
    kill: KillPolicy,
    pipe_grace: Duration,
}

impl PluginCommand {
    /// A command for `executable` with Nomad's defaults: no arguments, an
    /// empty environment, cwd `/`, a 60 s deadline enforced with SIGKILL.
    pub fn new(executable: impl Into<PathBuf>) -> Self {
        Self {
            executable: executable.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: PathBuf::from("/"),
            timeout: Duration::from_secs(60),
            kill: KillPolicy::Kill,
            pipe_grace: Duration::from_secs(5),
        }
    }

    /// Appends an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets one environment variable (the environment starts empty, as
    /// Nomad's does).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// The deadline and what happens when it passes.
    pub fn deadline(mut self, timeout: Duration, kill: KillPolicy) -> Self {
        self.timeout = timeout;
        self.kill = kill;
        self
    }

    /// The working directory (Nomad uses the agent's; default `/`).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = dir.into();
        self
    }

    /// How long to keep reading stdout/stderr after the plugin exited, when
    /// a process it started still holds them open (default 5 s). Nomad
    /// itself would wait for ever.
    pub fn pipe_grace(mut self, grace: Duration) -> Self {
        self.pipe_grace = grace;
        self
    }

    /// The environment the plugin will see.
    pub fn environment(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// Runs the command to completion: stdin `/dev/null`, stdout and stderr
    /// captured apart, the environment cleared. The child is always reaped.
    pub async fn run(&self) -> RawRun {
        let started = Instant::now();
        let mut cmd = tokio::process::Command::new(&self.executable);
        cmd.args(&self.args)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return RawRun {
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                    ending: Ending::SpawnFailed(e.to_string()),
                    elapsed: started.elapsed(),
                    pipes_held_open: false,
                };
            }
        };
        let out = child.stdout.take().map(|mut s| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf).await;
                buf
            })
        });
        let err = child.stderr.take().map(|mut s| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf).await;
                buf
            })
        });

        let ending = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) => Ending::from_status(status),
            Ok(Err(e)) => Ending::SpawnFailed(format!("waiting for the plugin: {e}")),
            Err(_) => {
                let signal = match self.kill {
                    KillPolicy::Kill => {
                        let _ = child.start_kill();
                        "SIGKILL"
                    }
                    KillPolicy::TermThenKill(grace) => {
                        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                            // SAFETY: kill(2) with a pid of our own unreaped
                            // child; it cannot have been recycled yet.
                            unsafe { libc::kill(pid, libc::SIGTERM) };
                        }
                        match tokio::time::timeout(grace, child.wait()).await {
                            Ok(_) => "SIGTERM",
                            Err(_) => {
                                let _ = child.start_kill();
                                "SIGTERM then SIGKILL"
                            }
                        }
                    }
                };
                // Reap it whatever happened above.
                let _ = child.wait().await;
                Ending::TimedOut {
                    after: self.timeout,
                    signal,
                }
            }
        };

        let mut pipes_held_open = false;
        let collect = |task: Option<tokio::task::JoinHandle<Vec<u8>>>| {
            let grace = self.pipe_grace;
            async move {
                let Some(mut task) = task else {
                    return (Vec::new(), false);
                };
                match tokio::time::timeout(grace, &mut task).await {
                    Ok(Ok(buf)) => (buf, false),
                    Ok(Err(_)) => (Vec::new(), false),
                    Err(_) => {
                        task.abort();
                        (Vec::new(), true)
                    }
                }
            }
        };
        let (stdout, held_out) = collect(out).await;
        let (stderr, held_err) = collect(err).await;
        pipes_held_open |= held_out || held_err;
        RawRun {
            stdout,
            stderr,
            ending,
            elapsed: started.elapsed(),
            pipes_held_open,
        }
    }
}

/// How a plugin process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this status.
    Exited(i32),
    /// A signal it did not get from the caller ended it.
    Signaled(i32),
    /// The deadline passed and the caller sent `signal`.
    TimedOut {
        /// The deadline.
        after: Duration,
        /// What was sent: `SIGKILL`, `SIGTERM`, or `SIGTERM then SIGKILL`.
        signal: &'static str,
    },
    /// It could not be started (or waited for).
    SpawnFailed(String),
}

impl Ending {
    fn from_status(status: ExitStatus) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(sig) = status.signal() {
                return Self::Signaled(sig);
            }
        }
        Self::Exited(status.code().unwrap_or(-1))
    }

    /// Whether Nomad counts this as success (exit status 0).
    pub fn success(&self) -> bool {
        matches!(self, Self::Exited(0))
    }

    /// The error text Go's `os/exec` would give Nomad (`exit status 1`,
    /// `signal: killed`), or `None` on success.
    pub fn go_error(&self) -> Option<String> {
        match self {
            Self::Exited(0) => None,
            Self::Exited(n) => Some(format!("exit status {n}")),
            Self::Signaled(sig) => Some(format!("signal: {}", signal_name(*sig))),
            Self::TimedOut { after, .. } => Some(format!(
                "context deadline exceeded (the plugin ran longer than {}s and was killed)",
                after.as_secs_f64()
            )),
            Self::SpawnFailed(e) => Some(e.clone()),
        }
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGKILL => "killed".into(),
        libc::SIGTERM => "terminated".into(),
        libc::SIGSEGV => "segmentation fault".into(),
        libc::SIGABRT => "aborted".into(),
        other => format!("signal {other}"),
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(n) => write!(f, "exited with status {n}"),
            Self::Signaled(sig) => write!(f, "killed by signal {sig}"),
            Self::TimedOut { after, signal } => {
                write!(
                    f,
                    "still running after {}s; sent {signal}",
                    after.as_secs_f64()
                )
            }
            Self::SpawnFailed(e) => write!(f, "could not be started: {e}"),
        }
    }
}

/// Everything one run produced.
#[derive(Debug, Clone)]
pub struct RawRun {
    /// All of stdout.
    pub stdout: Vec<u8>,
    /// All of stderr.
    pub stderr: Vec<u8>,
    /// How the process ended.
    pub ending: Ending,
    /// Wall time from spawn until both pipes closed (or were given up on).
    pub elapsed: Duration,
    /// A process the plugin started kept stdout or stderr open after the
    /// plugin exited: Nomad would have waited for it, possibly for ever.
    pub pipes_held_open: bool,
}

impl RawRun {
    /// A short transcript for failure messages.
    pub fn transcript(&self) -> String {
        format!(
            "{}; stdout: {:?}; stderr: {:?}",
            self.ending,
            truncate(&self.stdout),
            truncate(&self.stderr)
        )
    }
}

fn truncate(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.chars().count() > 400 {
        let mut t: String = text.chars().take(400).collect();
        t.push('…');
        t
    } else {
        text.into_owned()
    }
}

/// Copies `binary` into `plugin_dir` as `id` with mode 0755, as an operator
/// installs a plugin (Nomad 2.0.1+ refuses symlinks that leave the
/// directory).
///
/// Write all plugin files before starting any process from the same test
/// binary: a file still open for writing when another thread forks makes
/// the exec fail with "text file busy" (ETXTBSY).
pub fn install_plugin(binary: &Path, plugin_dir: &Path, id: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(plugin_dir)?;
    let target = plugin_dir.join(id);
    std::fs::copy(binary, &target)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(target)
}

/// The plugin ids Nomad would find in `dir`: every entry that is not a
/// directory and has an execute bit (Unix), named by its file name.
/// Symbolic links are followed, as Go's `os.Stat` does.
pub fn scan_plugin_dir(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        #[cfg(unix)]
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            meta.permissions().mode() & 0o111 != 0
        };
        #[cfg(not(unix))]
        let executable = entry.path().extension().is_some_and(|e| e == "exe");
        if !meta.is_dir() && executable {
            if let Some(name) = entry.file_name().to_str() {
                ids.push(name.to_owned());
            }
        }
    }
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    // One test writes every script before any process starts (see
    // `install_plugin` on ETXTBSY).
    #[tokio::test]
    async fn runs_like_nomad() {
        let dir = tempfile::tempdir().unwrap();
        let env = script(
            dir.path(),
            "env",
            r#"read line && echo "stdin had data"; echo "arg:$1"; /usr/bin/env | /usr/bin/sort; echo err >&2; exit 3"#,
        );
        let term = script(
            dir.path(),
            "term",
            "trap 'echo got-term; exit 0' TERM\nwhile :; do /bin/sleep 1; done",
        );
        let stubborn = script(
            dir.path(),
            "stubborn",
            "trap '' TERM\nwhile :; do /bin/sleep 1; done",
        );
        let sleeper = script(dir.path(), "sleeper", "exec /bin/sleep 30");

        let run = PluginCommand::new(&env).arg("op").env("X", "1").run().await;
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            "arg:op\nPWD=/\nX=1\n", // only X and the PWD sh exports: no PATH, no HOME
        );
        assert_eq!(run.stderr, b"err\n");
        assert_eq!(run.ending, Ending::Exited(3));
        assert_eq!(run.ending.go_error().unwrap(), "exit status 3");

        let short = Duration::from_millis(300);
        let run = PluginCommand::new(&sleeper)
            .deadline(short, KillPolicy::Kill)
            .run()
            .await;
        assert!(
            matches!(
                run.ending,
                Ending::TimedOut {
                    signal: "SIGKILL",
                    ..
                }
            ),
            "{:?}",
            run.ending
        );

        let grace = KillPolicy::TermThenKill(Duration::from_secs(20));
        let run = PluginCommand::new(&term).deadline(short, grace).run().await;
        assert!(
            matches!(
                run.ending,
                Ending::TimedOut {
                    signal: "SIGTERM",
                    ..
                }
            ),
            "{:?}",
            run.ending
        );

        let quick = KillPolicy::TermThenKill(Duration::from_millis(300));
        let run = PluginCommand::new(&stubborn)
            .deadline(short, quick)
            .pipe_grace(Duration::from_millis(500))
            .run()
            .await;
        assert!(
            matches!(
                run.ending,
                Ending::TimedOut {
                    signal: "SIGTERM then SIGKILL",
                    ..
                }
            ),
            "{:?}",
            run.ending
        );

        let missing = PluginCommand::new(dir.path().join("nope")).run().await;
        assert!(matches!(missing.ending, Ending::SpawnFailed(_)));

        assert_eq!(
            scan_plugin_dir(dir.path()).unwrap(),
            ["env", "sleeper", "stubborn", "term"]
        );
    }
}

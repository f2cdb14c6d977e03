//! The per-task supervisor: `rsexec supervise <task dir>`.
//!
//! The driver does not run a task itself: it starts this small process (the
//! same binary) in a session of its own, and the supervisor starts the task
//! and waits for it. When the plugin dies, the supervisor and the task keep
//! running; when the task exits, the supervisor writes the exit status to
//! `exit.json` in the task directory, where a restarted plugin finds it.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// What to run, written by the driver into `<task dir>/spec.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Spec {
    /// Program.
    pub command: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// Full environment.
    pub env: Vec<(String, String)>,
    /// User and group ids to run as, when set.
    pub uid_gid: Option<(u32, u32)>,
    /// Nomad's stdout FIFO (or file).
    pub stdout: String,
    /// Nomad's stderr FIFO (or file).
    pub stderr: String,
}

/// How the task ended, written to `<task dir>/exit.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Exit {
    /// Exit code (`128 + signal` when killed by a signal).
    pub code: i32,
    /// Killing signal, 0 if none.
    pub signal: i32,
    /// Set when the task could not be started at all.
    pub error: Option<String>,
}

/// Writes `contents` to `dir/name` atomically (temp file, then rename).
pub fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(tmp, dir.join(name))
}

fn open_output(path: &str) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(!is_fifo(path))
        .append(true)
        .open(path)
}

fn is_fifo(path: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path)
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false)
}

fn record(dir: &Path, exit: &Exit) -> std::io::Result<()> {
    let body = serde_json::to_vec(exit).map_err(std::io::Error::other)?;
    write_atomic(dir, "exit.json", &body)
}

/// Runs the supervisor for `dir`; returns the process exit status.
pub fn run(dir: &Path) -> i32 {
    // A session of our own: the plugin's death (or its process group being
    // signalled) must not reach the task.
    // SAFETY: setsid has no memory-safety preconditions.
    unsafe { libc::setsid() };
    match supervise(dir) {
        Ok(()) => 0,
        Err(e) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "error {e}");
            let _ = out.flush();
            let _ = record(
                dir,
                &Exit {
                    code: -1,
                    signal: 0,
                    error: Some(e.to_string()),
                },
            );
            1
        }
    }
}

fn supervise(dir: &Path) -> std::io::Result<()> {
    let spec: Spec = serde_json::from_slice(&std::fs::read(dir.join("spec.json"))?)
        .map_err(std::io::Error::other)?;
    let stdout = open_output(&spec.stdout)?;
    let stderr = open_output(&spec.stderr)?;
    let mut cmd = Command::new(&spec.command);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // The task leads a process group of its own, so signals and the
        // final kill reach everything it started.
        .process_group(0);
    if let Some((uid, gid)) = spec.uid_gid {
        cmd.uid(uid).gid(gid);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("starting {:?}: {e}", spec.command)))?;
    let pid = child.id() as i32;
    let start = nomad_plugin_sdk::driver::process::process_start_time(pid).unwrap_or(0);
    write_atomic(dir, "task.pid", format!("{pid} {start}").as_bytes())?;
    // Tell the driver the task runs (our stdout is a pipe it reads once).
    let mut out = std::io::stdout();
    let _ = writeln!(out, "started {pid} {start}");
    let _ = out.flush();
    let status = child.wait()?;
    let r = nomad_plugin_sdk::driver::process::exit_result(status);
    record(
        dir,
        &Exit {
            code: r.exit_code,
            signal: r.signal,
            error: r.err,
        },
    )
}

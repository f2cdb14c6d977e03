//! The per-task supervisor: the plugin's own binary, re-entered with
//! [`SUPERVISOR_ARG`](super::SUPERVISOR_ARG) before `serve`.
//!
//! It leads a session of its own, so neither the plugin's death nor a
//! signal to the plugin's process group reaches the task. It opens Nomad's
//! log FIFOs itself (so output keeps flowing while the plugin is down),
//! starts the task in the task's cgroup and process group, tells the
//! plugin `started <pid> <start time>` on its stdout, waits for the task,
//! and records the exit status (with the cgroup's OOM-kill verdict)
//! atomically and fsync'd in `exit.json` before it exits. A restarted
//! plugin finds the record, or the supervisor still running.
//!
//! The plugin starts the supervisor before anything else of the task
//! exists, then writes the record and creates the cgroup and says `go` on
//! the supervisor's stdin; once the task runs it says `ack`, just before
//! `launch` returns the task's state. Until then the task belongs to
//! nobody: if the plugin dies first (stdin reaches its end), Nomad never
//! received a handle and will never recover the task, so the supervisor
//! kills it and removes its cgroup and record itself.

use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use super::cgroup::TaskCgroup;
use super::record::{self, ExitRecord, CGROUP, EXIT, SPEC, TASK};
use super::spec::StoredSpec;
use super::task::ProcessId;
use crate::driver::process;

fn open_output(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::FileTypeExt;
    let fifo = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo());
    // Opening a FIFO for writing blocks until Nomad's log collector has it
    // open for reading; the plugin waits for our `started` line meanwhile.
    std::fs::OpenOptions::new()
        .create(!fifo)
        .append(true)
        .open(path)
}

/// Runs the supervisor for the record directory `dir`; returns the
/// supervisor's own exit status.
pub(crate) fn run(dir: &Path) -> i32 {
    // SAFETY: setsid has no memory-safety preconditions.
    unsafe { libc::setsid() };
    match supervise(dir) {
        Ok(()) => 0,
        Err(e) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "error {e}");
            let _ = out.flush();
            let _ = record::write_json(
                dir,
                EXIT,
                &ExitRecord {
                    code: -1,
                    signal: 0,
                    oom_killed: false,
                    error: Some(e.to_string()),
                },
            );
            1
        }
    }
}

fn spawn_task(dir: &Path) -> std::io::Result<(std::process::Child, StoredSpec)> {
    let spec: StoredSpec = record::read_json(dir, SPEC)
        .map_err(std::io::Error::other)?
        .ok_or_else(|| std::io::Error::other(format!("{} is missing", dir.join(SPEC).display())))?;
    let stdout = open_output(&spec.stdout)?;
    let stderr = open_output(&spec.stderr)?;
    let (start_dir, _) = spec.dirs();
    let hook = spec.hook(true, true).map_err(std::io::Error::other)?;
    if spec.isolation.pid_namespace {
        // Our next child is pid 1 of a new PID namespace.
        // SAFETY: plain system call.
        if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
            return Err(std::io::Error::other(format!(
                "isolation: cannot create a PID namespace: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    let mut cmd = Command::new(&spec.command);
    cmd.args(&spec.args)
        .current_dir(&start_dir)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // Its own process group, so a stop signal reaches what it started.
        .process_group(0);
    // SAFETY: the hook only calls async-signal-safe functions.
    unsafe { cmd.pre_exec(hook) };
    let child = cmd
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("starting {:?}: {e}", spec.command)))?;
    Ok((child, spec))
}

/// Removes what the plugin prepared for a task it never owned.
fn abandon(dir: &Path) {
    if let Ok(Some(Some(cg))) = record::read_json::<Option<TaskCgroup>>(dir, CGROUP) {
        let _ = cg.remove();
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn supervise(dir: &Path) -> std::io::Result<()> {
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    let _ = stdin.read_line(&mut line);
    if line.trim() != "go" {
        abandon(dir);
        return Ok(());
    }
    // The thread that waits for the plugin's `ack` starts before the task
    // does: after unshare(CLONE_NEWPID) this process can no longer create
    // threads.
    let cgroup: Option<TaskCgroup> = record::read_json::<StoredSpec>(dir, SPEC)
        .ok()
        .flatten()
        .and_then(|s| s.cgroup);
    let task_pid = Arc::new(AtomicI32::new(0));
    let abandoned = Arc::new(AtomicBool::new(false));
    drop(stdin);
    let verdict = {
        let (task_pid, abandoned) = (task_pid.clone(), abandoned.clone());
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            let acked = line.trim() == "ack";
            if !acked {
                abandoned.store(true, Ordering::SeqCst);
                if let Some(cg) = &cgroup {
                    let _ = cg.kill_all();
                }
                let pid = task_pid.load(Ordering::SeqCst);
                if pid > 0 {
                    let _ = process::signal_group(pid, libc::SIGKILL);
                }
            }
            acked
        })
    };
    let (mut child, spec) = match spawn_task(dir) {
        Ok(c) => c,
        Err(e) => {
            // Not started: the plugin reports the error and keeps no
            // handle, so nothing of the task may stay.
            let mut out = std::io::stdout();
            let _ = writeln!(out, "error {e}");
            let _ = out.flush();
            abandon(dir);
            return Ok(());
        }
    };
    let pid = child.id() as i32;
    task_pid.store(pid, Ordering::SeqCst);
    if abandoned.load(Ordering::SeqCst) {
        let _ = child.kill();
    }
    let start = process::process_start_time(pid).unwrap_or(0);
    // For exec, which enters the task's namespaces through its pid.
    let _ = record::write_json(
        dir,
        TASK,
        &ProcessId {
            pid,
            start_time: start,
        },
    );
    let mut out = std::io::stdout();
    let _ = writeln!(out, "started {pid} {start}");
    let _ = out.flush();
    let status = child.wait()?;
    // The plugin acknowledges (or dies) right after our `started` line.
    if !verdict.join().unwrap_or(false) {
        abandon(dir);
        return Ok(());
    }
    let r = process::exit_result(status);
    let oom_killed = spec.cgroup.as_ref().is_some_and(|c| c.oom_killed());
    record::write_json(
        dir,
        EXIT,
        &ExitRecord {
            code: r.exit_code,
            signal: r.signal,
            oom_killed,
            error: r.err,
        },
    )
}

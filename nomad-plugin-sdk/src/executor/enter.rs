//! Exec inside an isolated task: the plugin's binary, re-entered as a
//! small helper (`<binary> __nomad-plugin-executor-enter <record dir> --
//! <command>...`), joins the task's cgroup, enters its namespaces through
//! a pidfd of its main process (so a reused pid is never entered), enters
//! its chroot, and runs the command as its child (a process must be forked
//! to be in a PID namespace it entered), with the task's environment, user
//! and `no_new_privs`. It exits as the command did.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Command;

use super::record::{self, SPEC, TASK};
use super::spec::{child_hook, StoredSpec};
use super::task::ProcessId;

/// The first argument that makes the plugin binary an exec helper.
pub(crate) const ENTER_ARG: &str = "__nomad-plugin-executor-enter";

/// Signals the helper ignores while it waits (a terminal's Ctrl-C is for
/// the command, which gets them back at their default).
const PASSED_ON: &[libc::c_int] = &[
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

pub(crate) fn run(dir: &Path, argv: &[std::ffi::OsString]) -> i32 {
    match enter(dir, argv) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("exec: {e}");
            126
        }
    }
}

fn enter(dir: &Path, argv: &[std::ffi::OsString]) -> std::io::Result<i32> {
    fn other(e: impl std::fmt::Display) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
    let spec: StoredSpec = record::read_json(dir, SPEC)
        .map_err(other)?
        .ok_or_else(|| other("the task's record is gone"))?;
    let task: ProcessId = record::read_json(dir, TASK)
        .map_err(other)?
        .ok_or_else(|| other("the task has no process"))?;
    let Some((program, args)) = argv.split_first() else {
        return Err(other("empty command"));
    };
    // Into the task's cgroup first, while its files are still visible.
    child_hook(spec.cgroup.as_ref(), None, None)()?;
    // SAFETY: plain system call; the descriptor is checked, then owned.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, task.pid, 0) } as libc::c_int;
    if fd < 0 {
        return Err(other(format!("the task's process {} is gone", task.pid)));
    }
    // SAFETY: pidfd_open returned a new descriptor nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd) };
    if !task.alive() {
        return Err(other(format!("the task's process {} is gone", task.pid)));
    }
    let flags = spec.isolation.setns_flags();
    // SAFETY: setns on a pidfd we own; this process has one thread.
    if flags != 0 && unsafe { libc::setns(pidfd.as_raw_fd(), flags) } != 0 {
        return Err(other(format!(
            "entering the task's namespaces: {}",
            std::io::Error::last_os_error()
        )));
    }
    let (_, inside) = spec.dirs();
    if let Some(ch) = &spec.isolation.chroot {
        std::os::unix::fs::chroot(&ch.task_dir)?;
        if std::env::set_current_dir(&inside).is_err() {
            std::env::set_current_dir("/")?;
        }
    }
    for &s in PASSED_ON {
        // SAFETY: setting a disposition to SIG_IGN.
        unsafe { libc::signal(s, libc::SIG_IGN) };
    }
    let no_new_privs = spec.isolation.no_new_privs;
    let mut drop_privileges = child_hook(None, spec.uid_gid, None);
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)));
    // SAFETY: only async-signal-safe calls (signal, prctl, set*id).
    unsafe {
        cmd.pre_exec(move || {
            for &s in PASSED_ON {
                libc::signal(s, libc::SIG_DFL);
            }
            // The command dies with this helper (the plugin gave up on it).
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            drop_privileges()
        })
    };
    let status = cmd
        .spawn()
        .map_err(|e| other(format!("{}: {e}", program.to_string_lossy())))?
        .wait()?;
    if let Some(code) = status.code() {
        return Ok(code);
    }
    let sig = status.signal().unwrap_or(libc::SIGKILL);
    // SAFETY: die of the same signal, at its default disposition.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
    Ok(128 + sig)
}

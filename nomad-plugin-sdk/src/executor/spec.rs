//! What to run: the driver's [`LaunchSpec`], and the form the supervisor
//! reads from the task record.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::cgroup::{Limits, TaskCgroup};
use super::isolation::{ChildIsolation, Isolation};
use super::ExecutorError;
use crate::driver::TaskInfo;

/// A task to launch under the executor.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LaunchSpec {
    /// Nomad's task id (`<alloc id>/<task name>/<8 hex>`); names the task's
    /// record directory and cgroup.
    pub task_id: String,
    /// The program: a path, or a name looked up in the task's `PATH`.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// The task's whole environment (nothing is inherited from the plugin).
    pub env: BTreeMap<String, String>,
    /// The user to run as; `None` runs as the plugin's user.
    pub user: Option<String>,
    /// Nomad's stdout FIFO (or a file, or `/dev/null`).
    pub stdout: PathBuf,
    /// Nomad's stderr FIFO.
    pub stderr: PathBuf,
    /// What the task's cgroup enforces.
    pub limits: Limits,
    /// Namespaces, chroot and privileges; none by default. With a chroot,
    /// `cwd` may be given inside it (`/local`) or as a host path under the
    /// task directory.
    pub isolation: Isolation,
}

impl LaunchSpec {
    /// The spec Nomad's exec drivers derive from a task: its environment,
    /// its directory (`alloc_dir/<name>`) as working directory, its user,
    /// its log FIFOs and the limits of its `resources` (no CPU hard limit;
    /// set [`limits`](Self::limits) to change them).
    pub fn for_task(
        task_id: &str,
        task_name: &str,
        task: &TaskInfo,
        command: impl Into<String>,
    ) -> Self {
        let dir = task.task_dir(task_name);
        LaunchSpec {
            task_id: task_id.to_string(),
            command: command.into(),
            args: Vec::new(),
            cwd: if dir.is_dir() {
                dir
            } else {
                PathBuf::from("/")
            },
            env: task.env.clone(),
            user: (!task.user.is_empty()).then(|| task.user.clone()),
            stdout: task.stdout_path.clone(),
            stderr: task.stderr_path.clone(),
            limits: Limits::from_resources(&task.resources, false, 0).unwrap_or_default(),
            isolation: Isolation::default(),
        }
    }

    /// Sets the arguments.
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }
}

/// The record the supervisor reads (`spec.json`), also used to run exec
/// commands in the task's context after a plugin restart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct StoredSpec {
    pub command: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub uid_gid: Option<(u32, u32)>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub cgroup: Option<TaskCgroup>,
    #[serde(default)]
    pub isolation: Isolation,
    /// The task's record directory (set when loaded, not stored).
    #[serde(skip)]
    pub record_dir: Option<PathBuf>,
}

impl StoredSpec {
    /// The working directory the child starts in before any chroot (a host
    /// path), and the one it changes to inside the chroot.
    pub(crate) fn dirs(&self) -> (PathBuf, PathBuf) {
        match &self.isolation.chroot {
            Some(ch) => {
                let inside = match self.cwd.strip_prefix(&ch.task_dir) {
                    Ok(rel) => PathBuf::from("/").join(rel),
                    Err(_) if self.cwd.is_absolute() => self.cwd.clone(),
                    Err(_) => PathBuf::from("/"),
                };
                (ch.task_dir.clone(), inside)
            }
            None => (self.cwd.clone(), self.cwd.clone()),
        }
    }

    /// The hook for a child that becomes (or runs inside) the task.
    pub(crate) fn hook(
        &self,
        join_cgroup: bool,
        isolate: bool,
    ) -> Result<impl FnMut() -> std::io::Result<()> + Send + Sync + 'static, ExecutorError> {
        let iso = if isolate && !self.isolation.is_none() {
            Some(ChildIsolation::prepare(&self.isolation, &self.dirs().1)?)
        } else {
            None
        };
        let cgroup = if join_cgroup {
            self.cgroup.as_ref()
        } else {
            None
        };
        Ok(child_hook(cgroup, self.uid_gid, iso))
    }
}

/// Looks up a user's uid and primary gid.
pub(crate) fn lookup_user(name: &str) -> Result<(u32, u32), ExecutorError> {
    let cname = CString::new(name).map_err(|_| ExecutorError::UnknownUser(name.to_string()))?;
    // SAFETY: zeroed passwd is a valid out-parameter for getpwnam_r.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers refer to live memory of this frame; the buffer
    // length is passed along.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(ExecutorError::UnknownUser(name.to_string()));
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

/// What a freshly forked child does before `exec`: join the task's cgroup
/// by writing `0` into each `cgroup.procs` (while still root: the files
/// are root's), then drop to the task's user and group with no other
/// groups. Everything is prepared before the fork; the closure only makes
/// async-signal-safe calls.
pub(crate) fn child_hook(
    cgroup: Option<&TaskCgroup>,
    uid_gid: Option<(u32, u32)>,
    isolation: Option<ChildIsolation>,
) -> impl FnMut() -> std::io::Result<()> + Send + Sync + 'static {
    let files: Vec<CString> = cgroup
        .map(|c| c.procs_files())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| CString::new(p.into_os_string().into_encoded_bytes()).ok())
        .collect();
    move || {
        for f in &files {
            // SAFETY: a NUL-terminated path prepared before the fork.
            let fd = unsafe { libc::open(f.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: writes one byte from a static buffer to our fd.
            let n = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
            let err = std::io::Error::last_os_error();
            // SAFETY: closes the fd opened above.
            unsafe { libc::close(fd) };
            if n != 1 {
                return Err(err);
            }
        }
        if let Some(iso) = &isolation {
            iso.apply()?;
        }
        if let Some((uid, gid)) = uid_gid {
            // SAFETY: plain syscalls on values; the group list is one
            // element on this frame.
            unsafe {
                if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

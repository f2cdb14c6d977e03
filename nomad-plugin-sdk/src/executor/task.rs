//! A task under the executor: what a driver calls from `wait_task`,
//! `stop_task`, `destroy_task`, `signal_task`, `task_stats`,
//! `inspect_task` and exec.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::cgroup::{CpuSampler, TaskCgroup};
use super::record::{self, ExitRecord, EXIT};
use super::spec::StoredSpec;
use super::ExecutorError;
use crate::driver::process::{self, GroupStats};
use crate::driver::{ExitResult, ExitWatch, TaskResourceUsage, TaskState, TaskStatus};

/// A process, told apart from a later one that reuses its pid by its start
/// time (clock ticks since boot, `/proc/<pid>/stat` field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The pid.
    pub pid: i32,
    /// Its start time.
    pub start_time: u64,
}

impl ProcessId {
    /// Whether this very process is still alive (and not a zombie).
    pub fn alive(&self) -> bool {
        process::same_process_alive(self.pid, self.start_time)
    }
}

/// What a driver keeps in its driver state (Nomad stores it with the task
/// handle) so that [`Executor::recover`](super::Executor::recover) finds
/// the task again after the plugin or the agent restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorState {
    /// The task's record directory.
    pub dir: PathBuf,
    /// The supervisor process.
    pub supervisor: ProcessId,
    /// The task's main process (also its process group).
    pub task: ProcessId,
    /// The task's cgroup, when the host has cgroups.
    pub cgroup: Option<TaskCgroup>,
    /// When the task started, ms since the Unix epoch.
    pub started_at_ms: u64,
}

pub(crate) struct Inner {
    pub(crate) state: ExecutorState,
    pub(crate) spec: StoredSpec,
    exit: ExitWatch,
    completed_at: Mutex<Option<SystemTime>>,
    cpu: Mutex<CpuSampler>,
    group: Mutex<GroupStats>,
}

/// A running (or exited) task. Cheap to clone; every clone is the same
/// task.
#[derive(Clone)]
pub struct ExecutorTask {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ExecutorTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorTask")
            .field("state", &self.inner.state)
            .field("exit", &self.inner.exit.result())
            .finish()
    }
}

/// How long a killed task may take to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(30);

impl ExecutorTask {
    pub(crate) fn new(state: ExecutorState, spec: StoredSpec) -> Self {
        ExecutorTask {
            inner: Arc::new(Inner {
                state,
                spec,
                exit: ExitWatch::new(),
                completed_at: Mutex::new(None),
                cpu: Mutex::new(CpuSampler::default()),
                group: Mutex::new(GroupStats::new()),
            }),
        }
    }

    /// What to put in the driver state.
    pub fn state(&self) -> &ExecutorState {
        &self.inner.state
    }

    /// The task's main process id.
    pub fn pid(&self) -> i32 {
        self.inner.state.task.pid
    }

    /// When the task started.
    pub fn started_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.inner.state.started_at_ms)
    }

    /// The exit, once the task has exited.
    pub fn exit(&self) -> Option<ExitResult> {
        self.inner.exit.result()
    }

    /// Waits for the task to exit (returns at once if it has): what
    /// `wait_task` returns. Any number of callers may wait.
    pub async fn wait(&self) -> ExitResult {
        self.inner.exit.wait().await
    }

    /// What `inspect_task` reports, with the task's pid as an attribute.
    pub fn status(&self) -> TaskStatus {
        let exit = self.exit();
        let mut attributes = std::collections::BTreeMap::new();
        attributes.insert("pid".into(), self.pid().to_string());
        TaskStatus {
            state: if exit.is_some() {
                TaskState::Exited
            } else {
                TaskState::Running
            },
            started_at: Some(self.started_at()),
            completed_at: self.inner.completed_at.lock().ok().and_then(|c| *c),
            exit,
            attributes,
        }
    }

    /// Reads the supervisor's record and wakes the waiters; called once
    /// the supervisor has exited.
    pub(crate) fn finish(&self) {
        let exit = match record::read_json::<ExitRecord>(&self.inner.state.dir, EXIT) {
            Ok(Some(r)) => r.to_result(),
            Ok(None) => ExitResult {
                err: Some("the task's supervisor died without recording an exit status".into()),
                ..Default::default()
            },
            Err(e) => ExitResult {
                err: Some(e.to_string()),
                ..Default::default()
            },
        };
        if let Ok(mut c) = self.inner.completed_at.lock() {
            c.get_or_insert_with(SystemTime::now);
        }
        self.inner.exit.exited(exit);
    }

    /// Sends `signal` (a name as in a job file, `SIGHUP`) to the task's
    /// process group: what `signal_task` does.
    pub fn signal(&self, signal: &str) -> Result<(), ExecutorError> {
        let sig = process::signal_number(signal)
            .ok_or_else(|| ExecutorError::UnknownSignal(signal.to_string()))?;
        if self.exit().is_some() {
            return Err(ExecutorError::Exited);
        }
        process::signal_group(self.pid(), sig)
            .map_err(|e| ExecutorError::io(format!("sending {signal} to the task"), e))
    }

    /// What `stop_task` does: sends `signal` to the task's process group,
    /// waits up to `timeout` for the task to exit, then kills everything in
    /// its cgroup (children in sessions of their own included) and waits
    /// for the exit to be recorded.
    pub async fn stop(&self, signal: &str, timeout: Duration) -> Result<(), ExecutorError> {
        if self.exit().is_none() {
            let sig = process::signal_number(signal)
                .ok_or_else(|| ExecutorError::UnknownSignal(signal.to_string()))?;
            let _ = process::signal_group(self.pid(), sig);
            if tokio::time::timeout(timeout, self.wait()).await.is_err() {
                tracing::info!(
                    pid = self.pid(),
                    "task ignored {signal} for {timeout:?}; killing it"
                );
            }
        }
        self.kill_everything().await
    }

    /// Kills every process of the task and waits for the supervisor to
    /// record the exit.
    async fn kill_everything(&self) -> Result<(), ExecutorError> {
        if let Some(cg) = self.inner.state.cgroup.clone() {
            tokio::task::spawn_blocking(move || cg.kill_all())
                .await
                .map_err(|e| ExecutorError::Timeout(format!("killing the task's cgroup: {e}")))??;
        } else {
            let _ = process::signal_group(self.pid(), libc::SIGKILL);
        }
        tokio::time::timeout(KILL_WAIT, self.wait())
            .await
            .map_err(|_| {
                ExecutorError::Timeout(format!("the task survived SIGKILL for {KILL_WAIT:?}"))
            })?;
        Ok(())
    }

    /// What `destroy_task` does: kills whatever is left of the task, waits
    /// for its exit to be recorded, removes its cgroup and its record
    /// directory. Safe to call again.
    pub async fn destroy(&self) -> Result<(), ExecutorError> {
        self.kill_everything().await?;
        if let Some(cg) = self.inner.state.cgroup.clone() {
            tokio::task::spawn_blocking(move || cg.remove())
                .await
                .map_err(|e| {
                    ExecutorError::Timeout(format!("removing the task's cgroup: {e}"))
                })??;
        }
        match std::fs::remove_dir_all(&self.inner.state.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ExecutorError::io(
                format!("removing {}", self.inner.state.dir.display()),
                e,
            )),
        }
    }

    /// The task's resource usage: from its cgroup (the whole process tree,
    /// however it forked) when it has one, else from its process group.
    /// CPU percentages are relative to the previous call.
    pub fn stats(&self) -> Result<TaskResourceUsage, ExecutorError> {
        if self.exit().is_some() {
            return Err(ExecutorError::Exited);
        }
        let mhz = process::cpu_mhz();
        match &self.inner.state.cgroup {
            Some(cg) => {
                let sample = cg.sample();
                let mut cpu = self.inner.cpu.lock().unwrap_or_else(|e| e.into_inner());
                Ok(cpu.usage(sample, Instant::now(), mhz))
            }
            None => {
                let mut g = self.inner.group.lock().unwrap_or_else(|e| e.into_inner());
                Ok(g.sample(self.pid(), mhz))
            }
        }
    }

    /// Watches a supervisor that is this process's child.
    pub(crate) fn watch_child(&self, mut child: tokio::process::Child) {
        let task = self.clone();
        tokio::spawn(async move {
            let _ = child.wait().await;
            task.finish();
        });
    }

    /// Watches a supervisor started by an earlier plugin process: its
    /// pidfd becomes readable when it exits (no thread, no polling).
    pub(crate) fn watch_pid(&self) {
        let task = self.clone();
        tokio::spawn(async move {
            wait_for_exit(task.inner.state.supervisor).await;
            task.finish();
        });
    }
}

/// Returns once `who` is gone.
async fn wait_for_exit(who: ProcessId) {
    use std::os::fd::FromRawFd;
    if !who.alive() {
        return;
    }
    // SAFETY: plain syscall; the descriptor is checked, then owned.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, who.pid, 0) } as i32;
    if fd < 0 {
        return;
    }
    // SAFETY: pidfd_open returned a new descriptor nothing else owns.
    let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // The pid could have been reused between the check and pidfd_open.
    if !who.alive() {
        return;
    }
    // SAFETY: `pidfd` is owned by the AsyncFd for as long as it is
    // registered, and never closed or replaced behind its back.
    match unsafe { tokio::io::unix::AsyncFd::register(pidfd) } {
        Ok(afd) => {
            let _ = afd.readable().await;
        }
        Err(e) => {
            let (_pidfd, error) = e.into_parts();
            tracing::warn!(pid = who.pid, error = %error, "cannot watch the supervisor's pidfd; polling");
            while who.alive() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

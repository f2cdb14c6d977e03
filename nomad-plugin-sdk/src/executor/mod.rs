//! The task executor (feature `executor`): supervised, resource-limited
//! host processes for task drivers, the building block Nomad's own exec
//! and raw_exec drivers get from their executor.
//!
//! A driver's task lifecycle becomes a few calls:
//!
//! | driver method | executor call |
//! |---|---|
//! | `start_task` | [`Executor::launch`] → keep [`ExecutorTask::state`] in the driver state |
//! | `recover_task` | [`Executor::recover`] with that state |
//! | `wait_task` | [`ExecutorTask::wait`] |
//! | `stop_task` | [`ExecutorTask::stop`] |
//! | `destroy_task` | [`ExecutorTask::destroy`] |
//! | `inspect_task` | [`ExecutorTask::status`] |
//! | `task_stats` | [`ExecutorTask::stats`] |
//! | `signal_task` | [`ExecutorTask::signal`] |
//! | `exec_task` / `exec_task_streaming` | [`ExecutorTask::exec`] / [`ExecutorTask::exec_session`] |
//!
//! What it guarantees:
//!
//! * **A supervisor per task.** The plugin's own binary, re-entered before
//!   `serve` (call [`run_supervisor_if_requested`] first thing in `main`),
//!   leads a session of its own, holds Nomad's log FIFOs, starts the task,
//!   waits for it and records its exit status atomically and fsync'd. The
//!   plugin can be killed at any instant: a restarted plugin finds the
//!   supervisor (pid and start time, so a reused pid is never mistaken for
//!   it) or its record.
//! * **One cgroup per task** (v1 or v2, detected at run time): memory
//!   (hard, and soft with oversubscription), CPU shares, the CPU hard
//!   limit, reserved cores and a pids limit; an OOM kill is reported as
//!   `oom_killed`; stop and destroy kill the whole cgroup, so children in
//!   sessions of their own go too; stats cover the whole process tree.
//! * **Typed errors** ([`ExecutorError`]) that name the job field a host
//!   cannot honour, mapped to what Nomad shows.
//!
//! ```no_run
//! # fn serve_the_driver() {}
//! // First thing in `main`: in the supervisor role this never returns.
//! nomad_plugin_sdk::executor::run_supervisor_if_requested();
//! // ... then serve the driver as usual.
//! serve_the_driver();
//! ```

mod cgroup;
mod enter;
mod error;
mod exec;
mod isolation;
mod record;
mod spec;
mod supervisor;
mod task;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncBufReadExt;

pub use cgroup::{CgroupHost, CgroupVersion, Limits, TaskCgroup};
pub use error::ExecutorError;
pub use isolation::{Chroot, Isolation, DEFAULT_CHROOT_ENV};
pub use spec::LaunchSpec;
pub use task::{ExecutorState, ExecutorTask, ProcessId};

use record::{ExitRecord, CGROUP, EXIT, SPEC};
use spec::StoredSpec;

/// The first argument that makes the plugin binary a task supervisor.
pub const SUPERVISOR_ARG: &str = "__nomad-plugin-executor-supervise";

/// How long the supervisor may take to report that the task runs (it
/// waits for Nomad's log collector to open the FIFOs).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// If this process was started as a task supervisor (`<binary>
/// __nomad-plugin-executor-supervise <record dir>`), runs the supervisor
/// and exits; otherwise returns at once. Call it first in `main`, before
/// `serve` and before starting any runtime.
pub fn run_supervisor_if_requested() {
    let mut args = std::env::args_os().skip(1);
    let role = args.next();
    if role.as_deref() == Some(std::ffi::OsStr::new(enter::ENTER_ARG)) {
        // exec into an isolated task: `<dir> -- <command>...`
        let rest: Vec<std::ffi::OsString> = args.collect();
        let (Some(dir), Some(argv)) = (rest.first(), rest.get(2..)) else {
            eprintln!("usage: {} RECORD_DIR -- COMMAND...", enter::ENTER_ARG);
            std::process::exit(2);
        };
        std::process::exit(enter::run(Path::new(dir), argv));
    }
    if role.as_deref() != Some(std::ffi::OsStr::new(SUPERVISOR_ARG)) {
        return;
    }
    let Some(dir) = args.next() else {
        eprintln!("usage: {SUPERVISOR_ARG} RECORD_DIR");
        std::process::exit(2);
    };
    std::process::exit(supervisor::run(Path::new(&dir)));
}

/// Launches and recovers tasks. One per driver; cheap to share.
#[derive(Debug, Clone)]
pub struct Executor {
    state_dir: PathBuf,
    cgroups: Option<CgroupHost>,
    no_cgroups_reason: Option<String>,
    program: Option<PathBuf>,
}

impl Executor {
    /// An executor keeping task records under `state_dir`, with this host's
    /// cgroups (detected; task cgroups go under `nomad-rs`). Without
    /// usable cgroups it still runs tasks, tracked by process group, and
    /// refuses limits ([`Executor::cgroup_problem`] says why).
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        let (cgroups, no_cgroups_reason) = match CgroupHost::detect("nomad-rs") {
            Ok(h) => (Some(h), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Executor {
            state_dir: state_dir.into(),
            cgroups,
            no_cgroups_reason,
            program: None,
        }
    }

    /// Uses `host` for task cgroups (or none).
    pub fn with_cgroups(mut self, host: Option<CgroupHost>) -> Self {
        self.no_cgroups_reason = host
            .is_none()
            .then(|| "cgroups disabled by the driver".into());
        self.cgroups = host;
        self
    }

    /// Runs supervisors from `program` instead of this process's own binary
    /// (which must call [`run_supervisor_if_requested`]).
    pub fn with_supervisor_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// The cgroups in use, if any.
    pub fn cgroups(&self) -> Option<&CgroupHost> {
        self.cgroups.as_ref()
    }

    /// Why there are no cgroups, for the fingerprint.
    pub fn cgroup_problem(&self) -> Option<&str> {
        self.no_cgroups_reason.as_deref()
    }

    /// Where task records live.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    fn record_dir(&self, task_id: &str) -> PathBuf {
        self.state_dir.join(cgroup_name(task_id))
    }

    /// Starts a task under a new supervisor, in a new cgroup with the
    /// spec's limits; returns once the task's process runs. On any error
    /// nothing is left behind: no supervisor, no cgroup, no record.
    ///
    /// The supervisor is started first and does nothing until told to go;
    /// if this process dies at any point before `launch` returns (a
    /// plugin killed in the middle of `StartTask`), the supervisor sees its
    /// stdin end and removes the task, its cgroup and its record, since
    /// Nomad never received a handle for it. A record left for the same
    /// task id is cleaned up first.
    pub async fn launch(&self, spec: LaunchSpec) -> Result<ExecutorTask, ExecutorError> {
        if spec.command.is_empty() {
            return Err(ExecutorError::Spawn {
                command: String::new(),
                message: "the command is empty".into(),
            });
        }
        let uid_gid = spec.user.as_deref().map(spec::lookup_user).transpose()?;
        if spec.limits != Limits::none() && self.cgroups.is_none() {
            return Err(ExecutorError::NoCgroups(
                self.no_cgroups_reason.clone().unwrap_or_default(),
            ));
        }
        spec.limits.validate()?;
        let dir = self.record_dir(&spec.task_id);
        remove_orphan(&dir).await;
        let program = match &self.program {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .map_err(|e| ExecutorError::io("locating the plugin binary", e))?,
        };
        let mut child = tokio::process::Command::new(program)
            .arg(SUPERVISOR_ARG)
            .arg(&dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ExecutorError::io("starting the task supervisor", e))?;
        let planned = self
            .cgroups
            .as_ref()
            .map(|h| h.planned(&cgroup_name(&spec.task_id)));
        match self.start(&dir, &mut child, spec, uid_gid).await {
            Ok((state, stored)) => {
                let t = ExecutorTask::new(state, stored);
                t.watch_child(child);
                Ok(t)
            }
            Err(e) => {
                let _ = child.kill().await;
                if let Some(cg) = planned {
                    let _ = tokio::task::spawn_blocking(move || cg.remove()).await;
                }
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    async fn start(
        &self,
        dir: &Path,
        child: &mut tokio::process::Child,
        spec: LaunchSpec,
        uid_gid: Option<(u32, u32)>,
    ) -> Result<(ExecutorState, StoredSpec), ExecutorError> {
        use tokio::io::AsyncWriteExt;
        let write = |name: &str, e: std::io::Error| {
            ExecutorError::io(format!("writing {}", dir.join(name).display()), e)
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| ExecutorError::io(format!("creating {}", dir.display()), e))?;
        let cgroup = match &self.cgroups {
            Some(host) => {
                let name = cgroup_name(&spec.task_id);
                record::write_json(dir, CGROUP, &Some(host.planned(&name)))
                    .map_err(|e| write(CGROUP, e))?;
                let (host, limits) = (host.clone(), spec.limits.clone());
                Some(
                    tokio::task::spawn_blocking(move || host.create(&name, &limits))
                        .await
                        .map_err(|e| {
                            ExecutorError::io("creating the cgroup", std::io::Error::other(e))
                        })??,
                )
            }
            None => None,
        };
        let stored = StoredSpec {
            command: spec.command.clone(),
            args: spec.args.clone(),
            cwd: spec.cwd.clone(),
            env: spec.env.clone().into_iter().collect(),
            uid_gid,
            stdout: spec.stdout.clone(),
            stderr: spec.stderr.clone(),
            cgroup: cgroup.clone(),
            isolation: spec.isolation.clone(),
            record_dir: Some(dir.to_path_buf()),
        };
        record::write_json(dir, SPEC, &stored).map_err(|e| write(SPEC, e))?;
        let supervisor_gone =
            |e: std::io::Error| ExecutorError::io("talking to the task supervisor", e);
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| supervisor_gone(std::io::Error::other("no stdin pipe")))?;
        stdin.write_all(b"go\n").await.map_err(supervisor_gone)?;
        let sup_pid = child.id().map_or(0, |p| p as i32);
        let supervisor = ProcessId {
            pid: sup_pid,
            start_time: crate::driver::process::process_start_time(sup_pid).unwrap_or(0),
        };
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| supervisor_gone(std::io::Error::other("no stdout pipe")))?;
        let mut line = String::new();
        let read = tokio::time::timeout(
            START_TIMEOUT,
            tokio::io::BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        let words: Vec<&str> = line.split_whitespace().collect();
        let task = match (read, words.as_slice()) {
            (Ok(Ok(_)), ["started", pid, start]) => match (pid.parse(), start.parse()) {
                (Ok(pid), Ok(start_time)) => ProcessId { pid, start_time },
                _ => {
                    return Err(supervisor_gone(std::io::Error::other(format!(
                        "it said {line:?}"
                    ))))
                }
            },
            (Ok(Ok(_)), _) if line.starts_with("error ") => {
                return Err(ExecutorError::Spawn {
                    command: spec.command,
                    message: line["error ".len()..].trim().to_string(),
                });
            }
            (Err(_), _) => {
                return Err(ExecutorError::Timeout(format!(
                    "the task did not start within {START_TIMEOUT:?} (is Nomad's log collector reading {}?)",
                    spec.stdout.display()
                )));
            }
            _ => {
                return Err(supervisor_gone(std::io::Error::other(format!(
                    "it said {line:?}"
                ))))
            }
        };
        // From here on the task is the driver's: tell the supervisor, so it
        // does not clean up after us when we die.
        if let Err(e) = stdin.write_all(b"ack\n").await {
            tracing::warn!(error = %e, "the task supervisor exited before the start was acknowledged");
        }
        let state = ExecutorState {
            dir: dir.to_path_buf(),
            supervisor,
            task,
            cgroup,
            started_at_ms: millis(SystemTime::now()),
        };
        Ok((state, stored))
    }

    /// Finds a task again from the state [`ExecutorTask::state`] gave
    /// (after a plugin or agent restart): attaches to its supervisor if it
    /// still runs, or reports the exit it recorded. A missing or corrupt
    /// record is an error (Nomad then destroys and restarts the task).
    pub async fn recover(&self, state: &ExecutorState) -> Result<ExecutorTask, ExecutorError> {
        let mut spec: StoredSpec =
            record::read_json(&state.dir, SPEC)?.ok_or_else(|| ExecutorError::Record {
                path: state.dir.join(SPEC).display().to_string(),
                message: "missing: the task's record is gone".into(),
            })?;
        spec.record_dir = Some(state.dir.clone());
        let exited = record::read_json::<ExitRecord>(&state.dir, EXIT)?;
        let task = ExecutorTask::new(state.clone(), spec);
        if exited.is_some() || !state.supervisor.alive() {
            task.finish();
        } else {
            task.watch_pid();
        }
        Ok(task)
    }
}

/// A task id (`alloc/task/hash`) as a cgroup and directory name.
fn cgroup_name(task_id: &str) -> String {
    task_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '.'
            }
        })
        .collect()
}

/// Kills and removes what an earlier start of the same task left.
async fn remove_orphan(dir: &Path) {
    if !dir.exists() {
        return;
    }
    if let Ok(Some(Some(cg))) = record::read_json::<Option<TaskCgroup>>(dir, CGROUP) {
        tracing::warn!(dir = %dir.display(), "removing an unfinished earlier start of this task");
        let _ = tokio::task::spawn_blocking(move || cg.remove()).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

//! The `rsexec` driver: Nomad's task lifecycle over supervised processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
use nomad_plugin_sdk::driver::process::{self, GroupStats};
use nomad_plugin_sdk::driver::{
    self, Capabilities, EventBus, ExecOutput, ExecSession, ExitResult, ExitWatch, Fingerprint,
    RecoveredTask, StartedTask, TaskEvent, TaskResourceUsage, TaskState, TaskStatus, TaskStore,
};
use nomad_plugin_sdk::PluginError;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;

use crate::supervisor::{write_atomic, Exit, Spec};

const NAME: &str = "rsexec";

/// The agent's `plugin "rsexec" { config { ... } }` block.
#[derive(Debug, Clone, Deserialize, nomad_plugin_sdk::ConfigSchema)]
pub struct AgentSettings {
    /// Directory for task records (spec, pid, exit status). Default: a
    /// `rsexec` directory in the system temp dir.
    pub state_dir: Option<String>,
    /// Signal for stopping tasks whose job sets no `kill_signal`.
    #[nomad(default = "SIGINT")]
    pub default_signal: String,
}

/// A task's `config { ... }` block.
#[derive(Debug, Clone, Deserialize, nomad_plugin_sdk::ConfigSchema)]
pub struct RsExecTask {
    /// The program to run.
    #[nomad(required)]
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory; default: the task directory.
    pub cwd: Option<String>,
    /// Environment variables added to the task's.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// What Nomad keeps for each task: enough to find it after any restart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RsExecState {
    /// The task's record directory.
    pub dir: PathBuf,
    /// The supervisor's pid and start time.
    pub supervisor: (i32, u64),
    /// The task process's pid (also its process group) and start time.
    pub task: (i32, u64),
    /// Start time, ms since the epoch.
    pub started_at_ms: u64,
}

struct Task {
    name: String,
    alloc_id: String,
    state: RsExecState,
    spec: Spec,
    exit: ExitWatch,
    completed_at: Mutex<Option<SystemTime>>,
    stats: Mutex<GroupStats>,
}

impl Task {
    fn pgid(&self) -> i32 {
        self.state.task.0
    }
}

/// The driver.
#[derive(Default)]
pub struct RsExec {
    settings: RwLock<Option<AgentSettings>>,
    tasks: TaskStore<Task>,
    events: EventBus,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn internal(context: &str, e: impl std::fmt::Display) -> PluginError {
    PluginError::Internal(format!("{context}: {e}"))
}

/// Looks up a user's uid and gid.
fn lookup_user(name: &str) -> Result<(u32, u32), PluginError> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| PluginError::InvalidArgument(format!("invalid user name {name:?}")))?;
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
        return Err(PluginError::InvalidArgument(format!(
            "user {name:?} does not exist on this node"
        )));
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

impl RsExec {
    fn state_root(&self) -> PathBuf {
        self.settings
            .read()
            .ok()
            .and_then(|s| s.as_ref().and_then(|s| s.state_dir.clone()))
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join(NAME))
    }

    fn default_signal(&self) -> String {
        self.settings
            .read()
            .ok()
            .and_then(|s| s.as_ref().map(|s| s.default_signal.clone()))
            .unwrap_or_else(|| "SIGINT".into())
    }

    fn event(&self, task: &Task, id: &str, message: String) {
        self.events
            .emit(TaskEvent::new(id, &task.alloc_id, &task.name, message));
    }

    /// Watches a supervisor that is our child.
    fn watch_child(task: Arc<Task>, mut child: tokio::process::Child) {
        tokio::spawn(async move {
            let _ = child.wait().await;
            finish(&task);
        });
    }

    /// Watches a supervisor started by an earlier plugin process. It is
    /// not our child, so it cannot be waited for: its pidfd becomes
    /// readable when it exits, and the async reactor watches that, so any
    /// number of recovered tasks costs no threads.
    fn watch_pid(task: Arc<Task>) {
        let (pid, start) = task.state.supervisor;
        tokio::spawn(async move {
            wait_for_exit(pid, start).await;
            finish(&task);
        });
    }
}

/// Reads the exit record and wakes the waiters.
fn finish(task: &Task) {
    let exit = match std::fs::read(task.state.dir.join("exit.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Exit>(&b).ok())
    {
        Some(e) => {
            let mut exit = ExitResult::code(e.code);
            exit.signal = e.signal;
            exit.err = e.error;
            exit
        }
        None => ExitResult::error("the task's supervisor died without recording an exit status"),
    };
    if let Ok(mut c) = task.completed_at.lock() {
        c.get_or_insert_with(SystemTime::now);
    }
    task.exit.exited(exit);
}

/// Returns once process `pid` (started at `start`) is gone: pidfd in the
/// async reactor, no polling loop.
async fn wait_for_exit(pid: i32, start: u64) {
    use std::os::fd::FromRawFd;
    if !process::same_process_alive(pid, start) {
        return;
    }
    // SAFETY: plain syscall; the descriptor is checked, then owned.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return;
    }
    // SAFETY: pidfd_open returned a new descriptor nothing else owns.
    let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // The pid could have been reused between the check and pidfd_open.
    if !process::same_process_alive(pid, start) {
        return;
    }
    // SAFETY: `pidfd` is owned by the AsyncFd for as long as it is
    // registered, and never closed or replaced behind its back.
    match unsafe { tokio::io::unix::AsyncFd::register(pidfd) } {
        Ok(afd) => {
            let _ = afd.readable().await;
        }
        Err(e) => {
            let (pidfd, error) = e.into_parts();
            tracing::warn!(pid, error = %error, "cannot watch the supervisor's pidfd; waiting on a thread");
            let _ = tokio::task::spawn_blocking(move || {
                use std::os::fd::AsRawFd;
                let mut pfd = libc::pollfd {
                    fd: pidfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd over a descriptor we own.
                while unsafe { libc::poll(&mut pfd, 1, -1) } < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                }
            })
            .await;
        }
    }
}

#[nomad_plugin_sdk::async_trait]
impl BasePlugin for RsExec {
    type Config = AgentSettings;

    fn info(&self) -> PluginInfo {
        PluginInfo::new(NAME, env!("CARGO_PKG_VERSION"))
    }

    async fn set_config(
        &self,
        config: AgentSettings,
        _agent: AgentConfig,
    ) -> Result<(), PluginError> {
        if process::signal_number(&config.default_signal).is_none() {
            return Err(PluginError::InvalidConfig(format!(
                "default_signal: {:?} is not a signal name",
                config.default_signal
            )));
        }
        tracing::info!(state_dir = ?config.state_dir, default_signal = %config.default_signal, "agent config applied");
        if let Ok(mut s) = self.settings.write() {
            *s = Some(config);
        }
        Ok(())
    }
}

#[nomad_plugin_sdk::async_trait]
impl driver::Driver for RsExec {
    type TaskConfig = RsExecTask;
    type State = RsExecState;

    fn capabilities(&self) -> Capabilities {
        Capabilities::default().send_signals(true).exec(true)
    }

    async fn fingerprint(&self) -> Fingerprint {
        Fingerprint::healthy()
            .attribute(format!("driver.{NAME}.version"), env!("CARGO_PKG_VERSION"))
    }

    fn events(&self) -> Option<&EventBus> {
        Some(&self.events)
    }

    async fn start_task(
        &self,
        task: driver::Task<RsExecTask>,
    ) -> Result<StartedTask<RsExecState>, PluginError> {
        // Held until the task is stored: a second StartTask for this id is
        // refused meanwhile, and a failed start frees the id.
        let claim = self.tasks.claim(&task.id)?;
        let cfg = &task.config;
        if cfg.command.is_empty() {
            return Err(PluginError::InvalidConfig(
                "command must not be empty".into(),
            ));
        }
        let uid_gid = if task.task.user.is_empty() {
            None
        } else {
            Some(lookup_user(&task.task.user)?)
        };
        let dir = self.state_root().join(task.id.replace('/', "_"));
        std::fs::create_dir_all(&dir).map_err(|e| internal("creating the task record", e))?;
        let cwd = cfg.cwd.clone().unwrap_or_else(|| {
            let d = task.task.task_dir(&task.name);
            if d.is_dir() {
                d.display().to_string()
            } else {
                "/".into()
            }
        });
        let mut env: BTreeMap<String, String> = std::env::vars().collect();
        env.extend(task.task.env.clone());
        env.extend(cfg.env.clone());
        let spec = Spec {
            command: cfg.command.clone(),
            args: cfg.args.clone(),
            cwd,
            env: env.into_iter().collect(),
            uid_gid,
            stdout: task.task.stdout_path.display().to_string(),
            stderr: task.task.stderr_path.display().to_string(),
        };
        let body = serde_json::to_vec(&spec).map_err(|e| internal("encoding the task spec", e))?;
        write_atomic(&dir, "spec.json", &body).map_err(|e| internal("writing the task spec", e))?;
        let _ = std::fs::remove_file(dir.join("exit.json"));

        let exe = std::env::current_exe().map_err(|e| internal("locating the plugin binary", e))?;
        let mut child = tokio::process::Command::new(exe)
            .arg("supervise")
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| internal("starting the task supervisor", e))?;
        let sup_pid = child.id().map(|p| p as i32).unwrap_or(0);
        let sup_start = process::process_start_time(sup_pid).unwrap_or(0);
        let Some(stdout) = child.stdout.take() else {
            return Err(internal("starting the task supervisor", "no stdout pipe"));
        };
        let mut line = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::io::BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        let words: Vec<&str> = line.split_whitespace().collect();
        let (task_pid, task_start) = match (read, words.as_slice()) {
            (Ok(Ok(_)), ["started", pid, start]) => (
                pid.parse()
                    .map_err(|e| internal("reading the task pid", e))?,
                start.parse().unwrap_or(0),
            ),
            (Ok(Ok(_)), _) if line.starts_with("error ") => {
                let _ = child.wait().await;
                let _ = std::fs::remove_dir_all(&dir);
                return Err(PluginError::FailedPrecondition(
                    line["error ".len()..].trim().to_string(),
                ));
            }
            _ => {
                let _ = child.kill().await;
                return Err(internal(
                    "starting the task",
                    format!("supervisor said {line:?}"),
                ));
            }
        };
        let started = SystemTime::now();
        let state = RsExecState {
            dir,
            supervisor: (sup_pid, sup_start),
            task: (task_pid, task_start),
            started_at_ms: millis(started),
        };
        let t = claim.insert(Task {
            name: task.name.clone(),
            alloc_id: task.task.alloc_id.clone(),
            state: state.clone(),
            spec,
            exit: ExitWatch::new(),
            completed_at: Mutex::new(None),
            stats: Mutex::new(GroupStats::new()),
        });
        Self::watch_child(t.clone(), child);
        self.event(&t, &task.id, format!("Started process {task_pid}"));
        tracing::info!(task_id = %task.id, pid = task_pid, "task started");
        Ok(StartedTask::new(state))
    }

    async fn recover_task(
        &self,
        task: RecoveredTask<RsExecTask, RsExecState>,
    ) -> Result<(), PluginError> {
        let Ok(claim) = self.tasks.claim(&task.id) else {
            return Ok(()); // known already, or being recovered by another call
        };
        let spec: Spec = std::fs::read(task.state.dir.join("spec.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                PluginError::NotFound(format!(
                    "task {:?}: its record in {} is gone",
                    task.id,
                    task.state.dir.display()
                ))
            })?;
        let t = claim.insert(Task {
            name: task.name.clone(),
            alloc_id: task.task.alloc_id.clone(),
            state: task.state.clone(),
            spec,
            exit: ExitWatch::new(),
            completed_at: Mutex::new(None),
            stats: Mutex::new(GroupStats::new()),
        });
        Self::watch_pid(t.clone());
        self.event(&t, &task.id, "Recovered after a plugin restart".into());
        tracing::info!(task_id = %task.id, "task recovered");
        Ok(())
    }

    async fn wait_task(&self, task_id: &str) -> Result<ExitResult, PluginError> {
        let task = self.tasks.get(task_id)?;
        Ok(task.exit.wait().await)
    }

    async fn stop_task(
        &self,
        task_id: &str,
        timeout: Duration,
        signal: &str,
    ) -> Result<(), PluginError> {
        let task = self.tasks.get(task_id)?;
        if task.exit.result().is_some() {
            return Ok(());
        }
        let name = if signal.is_empty() {
            self.default_signal()
        } else {
            signal.to_string()
        };
        let sig = process::signal_number(&name)
            .ok_or_else(|| PluginError::InvalidArgument(format!("unknown signal {name:?}")))?;
        let _ = process::signal_group(task.pgid(), sig);
        if tokio::time::timeout(timeout, task.exit.wait())
            .await
            .is_err()
        {
            tracing::info!(task_id, "task ignored {name} for {timeout:?}; killing it");
            let _ = process::signal_group(task.pgid(), libc::SIGKILL);
            tokio::time::timeout(Duration::from_secs(30), task.exit.wait())
                .await
                .map_err(|_| internal("stopping the task", "it survived SIGKILL for 30s"))?;
        }
        Ok(())
    }

    async fn destroy_task(&self, task_id: &str, force: bool) -> Result<(), PluginError> {
        let task = self.tasks.get(task_id)?;
        if task.exit.result().is_none() {
            if !force {
                return Err(PluginError::FailedPrecondition(format!(
                    "task {task_id:?} is still running; stop it first or destroy with force"
                )));
            }
            let _ = process::signal_group(task.pgid(), libc::SIGKILL);
            tokio::time::timeout(Duration::from_secs(30), task.exit.wait())
                .await
                .map_err(|_| internal("destroying the task", "it survived SIGKILL for 30s"))?;
        }
        // Whatever the task left running in its group goes too.
        let _ = process::signal_group(task.pgid(), libc::SIGKILL);
        let _ = std::fs::remove_dir_all(&task.state.dir);
        self.tasks.remove(task_id);
        Ok(())
    }

    async fn inspect_task(&self, task_id: &str) -> Result<TaskStatus, PluginError> {
        let task = self.tasks.get(task_id)?;
        let exit = task.exit.result();
        let state = if exit.is_some() {
            TaskState::Exited
        } else {
            TaskState::Running
        };
        Ok(TaskStatus::new(state)
            .started_at(UNIX_EPOCH + Duration::from_millis(task.state.started_at_ms))
            .completed_at(task.completed_at.lock().ok().and_then(|c| *c))
            .exit(exit)
            .attribute("pid", task.state.task.0.to_string()))
    }

    async fn task_stats(&self, task_id: &str) -> Result<TaskResourceUsage, PluginError> {
        let task = self.tasks.get(task_id)?;
        if task.exit.result().is_some() {
            return Err(PluginError::NotFound(format!(
                "task {task_id:?} has exited"
            )));
        }
        let mhz = process::cpu_mhz();
        let mut stats = task
            .stats
            .lock()
            .map_err(|_| internal("sampling stats", "lock poisoned"))?;
        Ok(stats.sample(task.pgid(), mhz))
    }

    async fn signal_task(&self, task_id: &str, signal: &str) -> Result<(), PluginError> {
        let task = self.tasks.get(task_id)?;
        let sig = process::signal_number(signal)
            .ok_or_else(|| PluginError::InvalidArgument(format!("unknown signal {signal:?}")))?;
        if task.exit.result().is_some() {
            return Err(PluginError::FailedPrecondition(format!(
                "task {task_id:?} has exited"
            )));
        }
        process::signal_group(task.pgid(), sig).map_err(|e| internal("signalling the task", e))
    }

    async fn exec_task(
        &self,
        task_id: &str,
        command: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecOutput, PluginError> {
        let task = self.tasks.get(task_id)?;
        crate::exec::run_once(&task.spec, &command, timeout).await
    }

    async fn exec_task_streaming(&self, session: ExecSession) -> Result<ExitResult, PluginError> {
        let task = self.tasks.get(&session.task_id)?;
        crate::exec::run_session(&task.spec, session).await
    }
}

/// The task's working directory and environment, for exec.
pub(crate) fn exec_context(spec: &Spec) -> (&Path, &[(String, String)]) {
    (Path::new(&spec.cwd), &spec.env)
}

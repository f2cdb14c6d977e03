//! `{{name}}`: a Nomad task driver.
//!
//! This starting point runs a task's `command` with `args` as a child
//! process of the plugin, in a process group of its own, with the task's
//! environment and its output sent to Nomad's log FIFOs (like `raw_exec`,
//! without isolation). Replace `start_task` and friends with calls to your
//! runtime.
//!
//! What it does not do, and where to look when you need it (the SDK's
//! reference driver, `examples/driver-rsexec`, does all of it):
//! - Recovery: when the plugin restarts, a task it started is no longer its
//!   child, so its exit code cannot be learnt. `recover_task` stops such a
//!   task and fails, and Nomad starts the task again. To keep tasks across
//!   plugin restarts, run each under a small supervisor process that
//!   records the exit status.
//! - Exec (`nomad alloc exec`, script checks): needs a pty for interactive
//!   sessions; `capabilities` says `exec: false`.
//! - Running as the job's `user`, resource limits, filesystem isolation.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
use nomad_plugin_sdk::driver::process::{self, GroupStats};
use nomad_plugin_sdk::driver::{
    self, Capabilities, Driver, EventBus, ExecOutput, ExecSession, ExitResult, ExitWatch,
    Fingerprint, RecoveredTask, StartedTask, TaskEvent, TaskResourceUsage, TaskState, TaskStatus,
    TaskStore,
};
use nomad_plugin_sdk::PluginError;
use serde::{Deserialize, Serialize};

const NAME: &str = "{{name}}";
/// How long to wait for Nomad's log collector to open the task's FIFOs.
const FIFO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a task may take to die after SIGKILL before we give up on it.
const KILL_GRACE: Duration = Duration::from_secs(30);

/// The agent's `plugin "{{name}}" { config { ... } }` block.
#[derive(Debug, Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct PluginConfig {
    /// Signal sent to stop a task whose job sets no `kill_signal`.
    #[nomad(default = "SIGINT")]
    default_signal: String,
}

/// A task's `config { ... }` block.
#[derive(Debug, Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct CommandConfig {
    /// The program to run.
    #[nomad(required)]
    command: String,
    /// Its arguments.
    #[serde(default)]
    args: Vec<String>,
}

/// What Nomad stores for each task and hands back to `recover_task`.
#[derive(Debug, Serialize, Deserialize)]
struct ProcessRecord {
    /// The task's pid, which is also its process group.
    pid: i32,
    /// When it started (clock ticks since boot), to tell it from a later
    /// process that reuses the pid.
    start_time: u64,
}

/// A task this plugin process started.
struct Task {
    name: String,
    alloc_id: String,
    /// The task's process group (the pid of the process we started).
    pgid: i32,
    started_at: SystemTime,
    completed_at: Mutex<Option<SystemTime>>,
    exit: ExitWatch,
    stats: Mutex<GroupStats>,
}

impl Task {
    fn running(&self) -> bool {
        self.exit.result().is_none()
    }

    /// Sends `signal` to every process of the task.
    fn signal(&self, signal: i32) {
        // The group may be gone already; nothing to do then.
        let _ = process::signal_group(self.pgid, signal);
    }

    /// SIGKILLs the task and waits for the exit to be recorded.
    async fn kill(&self) -> Result<(), PluginError> {
        self.signal(libc::SIGKILL);
        tokio::time::timeout(KILL_GRACE, self.exit.wait())
            .await
            .map(|_| ())
            .map_err(|_| {
                PluginError::Internal(format!(
                    "process {} survived SIGKILL for {KILL_GRACE:?}",
                    self.pgid
                ))
            })
    }
}

/// The driver.
struct CommandDriver {
    default_signal: Mutex<String>,
    tasks: TaskStore<Task>,
    events: EventBus,
    cpu_mhz: f64,
}

impl CommandDriver {
    fn new() -> Self {
        CommandDriver {
            default_signal: Mutex::new("SIGINT".into()),
            tasks: TaskStore::new(),
            events: EventBus::new(),
            cpu_mhz: process::cpu_mhz(),
        }
    }

    fn default_signal(&self) -> String {
        self.default_signal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn signal_number(name: &str) -> Result<i32, PluginError> {
    process::signal_number(name)
        .ok_or_else(|| PluginError::InvalidArgument(format!("{name:?} is not a signal name")))
}

#[nomad_plugin_sdk::async_trait]
impl BasePlugin for CommandDriver {
    type Config = PluginConfig;

    fn info(&self) -> PluginInfo {
        PluginInfo::new(NAME, env!("CARGO_PKG_VERSION"))
    }

    async fn set_config(
        &self,
        config: PluginConfig,
        _agent: AgentConfig,
    ) -> Result<(), PluginError> {
        signal_number(&config.default_signal)
            .map_err(|e| PluginError::InvalidConfig(format!("default_signal: {e}")))?;
        *self
            .default_signal
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = config.default_signal;
        Ok(())
    }
}

#[nomad_plugin_sdk::async_trait]
impl Driver for CommandDriver {
    type TaskConfig = CommandConfig;
    type State = ProcessRecord;

    fn capabilities(&self) -> Capabilities {
        // Tasks see the host's filesystem; volume mounts are not made.
        Capabilities::default()
            .send_signals(true)
            .exec(false)
            .mounts(false)
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
        task: driver::Task<CommandConfig>,
    ) -> Result<StartedTask<ProcessRecord>, PluginError> {
        // Held until the task is stored: a second StartTask for this id is
        // refused meanwhile, and a failed start frees the id.
        let claim = self.tasks.claim(&task.id)?;
        if !task.task.user.is_empty() {
            return Err(PluginError::InvalidArgument(format!(
                "{NAME} runs tasks as the Nomad agent's user; remove `user = {:?}` from the task",
                task.task.user
            )));
        }
        let log = |path: PathBuf| async move {
            process::open_log_fifo(&path, FIFO_TIMEOUT)
                .await
                .map_err(|e| PluginError::Retryable(format!("opening {}: {e}", path.display())))
        };
        let stdout = log(task.task.stdout_path.clone()).await?;
        let stderr = log(task.task.stderr_path.clone()).await?;
        let task_dir = task.task.task_dir(&task.name);
        let cwd = if task_dir.is_dir() {
            task_dir
        } else {
            PathBuf::from("/")
        };

        let mut child = tokio::process::Command::new(&task.config.command)
            .args(&task.config.args)
            // Nomad's task environment already holds what the task may
            // see of the host's.
            .env_clear()
            .envs(&task.task.env)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // A group of its own: stop and kill reach every process the
            // task starts, and signals meant for the plugin do not.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                PluginError::InvalidArgument(format!("cannot run {:?}: {e}", task.config.command))
            })?;
        let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
            return Err(PluginError::Internal(
                "the task exited before its pid could be read".into(),
            ));
        };
        let record = ProcessRecord {
            pid,
            start_time: process::process_start_time(pid).unwrap_or(0),
        };

        let t = claim.insert(Task {
            name: task.name.clone(),
            alloc_id: task.task.alloc_id.clone(),
            pgid: pid,
            started_at: SystemTime::now(),
            completed_at: Mutex::new(None),
            exit: ExitWatch::new(),
            stats: Mutex::new(GroupStats::new()),
        });
        // Reap the child and publish its exit to every WaitTask.
        let waiter = t.clone();
        tokio::spawn(async move {
            let exit = match child.wait().await {
                Ok(status) => process::exit_result(status),
                Err(e) => ExitResult::error(format!("waiting for the task failed: {e}")),
            };
            *waiter
                .completed_at
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(SystemTime::now());
            waiter.exit.exited(exit);
        });
        self.events.emit(TaskEvent::new(
            &task.id,
            &t.alloc_id,
            &t.name,
            format!("Started process {pid}"),
        ));
        Ok(StartedTask::new(record))
    }

    async fn recover_task(
        &self,
        task: RecoveredTask<CommandConfig, ProcessRecord>,
    ) -> Result<(), PluginError> {
        if self.tasks.contains(&task.id) {
            return Ok(());
        }
        // Only a parent learns how its child exited, and this process is
        // not the task's parent. Stop the task rather than leave it running
        // unmanaged; Nomad then starts it again.
        let ProcessRecord { pid, start_time } = task.state;
        let stopped = process::same_process_alive(pid, start_time)
            && process::signal_group(pid, libc::SIGKILL).is_ok();
        Err(PluginError::FailedPrecondition(format!(
            "{NAME} cannot re-attach to task {:?} after a plugin restart{}",
            task.id,
            if stopped {
                "; its processes were killed so that Nomad can start it again"
            } else {
                ""
            }
        )))
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
        if !task.running() {
            return Ok(());
        }
        let signal = if signal.is_empty() {
            self.default_signal()
        } else {
            signal.to_string()
        };
        task.signal(signal_number(&signal)?);
        if tokio::time::timeout(timeout, task.exit.wait())
            .await
            .is_err()
        {
            task.kill().await?;
        }
        Ok(())
    }

    async fn destroy_task(&self, task_id: &str, force: bool) -> Result<(), PluginError> {
        let task = self.tasks.get(task_id)?;
        if task.running() {
            if !force {
                return Err(PluginError::FailedPrecondition(format!(
                    "task {task_id:?} is still running; stop it first"
                )));
            }
            task.kill().await?;
        }
        self.tasks.remove(task_id);
        Ok(())
    }

    async fn inspect_task(&self, task_id: &str) -> Result<TaskStatus, PluginError> {
        let task = self.tasks.get(task_id)?;
        let exit = task.exit.result();
        let completed_at = *task.completed_at.lock().unwrap_or_else(|e| e.into_inner());
        let state = if exit.is_some() {
            TaskState::Exited
        } else {
            TaskState::Running
        };
        Ok(TaskStatus::new(state)
            .started_at(task.started_at)
            .completed_at(completed_at)
            .exit(exit)
            .attribute("pid", task.pgid.to_string()))
    }

    async fn task_stats(&self, task_id: &str) -> Result<TaskResourceUsage, PluginError> {
        let task = self.tasks.get(task_id)?;
        if !task.running() {
            // An error ends Nomad's statistics stream for the task.
            return Err(PluginError::NotFound(format!(
                "task {task_id:?} has exited"
            )));
        }
        let mut stats = task.stats.lock().unwrap_or_else(|e| e.into_inner());
        Ok(stats.sample(task.pgid, self.cpu_mhz))
    }

    async fn signal_task(&self, task_id: &str, signal: &str) -> Result<(), PluginError> {
        let task = self.tasks.get(task_id)?;
        let number = signal_number(signal)?;
        if !task.running() {
            return Err(PluginError::FailedPrecondition(format!(
                "task {task_id:?} has exited"
            )));
        }
        process::signal_group(task.pgid, number)
            .map_err(|e| PluginError::Internal(format!("signalling task {task_id:?}: {e}")))
    }

    // Exec is not supported (`exec: false` above), but an unknown task is
    // still reported as not found, which is what Nomad's log should say.
    async fn exec_task(
        &self,
        task_id: &str,
        _command: Vec<String>,
        _timeout: Duration,
    ) -> Result<ExecOutput, PluginError> {
        self.tasks.get(task_id)?;
        Err(PluginError::Unimplemented(format!(
            "{NAME} does not support exec"
        )))
    }

    async fn exec_task_streaming(&self, session: ExecSession) -> Result<ExitResult, PluginError> {
        self.tasks.get(&session.task_id)?;
        Err(PluginError::Unimplemented(format!(
            "{NAME} does not support exec"
        )))
    }
}

fn main() -> std::process::ExitCode {
    driver::serve(CommandDriver::new())
}

//! `{{name}}`: a Nomad task driver.
//!
//! This starting point runs a task's `command` with `args` as a host
//! process (like `raw_exec`, without filesystem isolation) on the SDK's
//! executor, which gives it what Nomad's own drivers have:
//! - each task under a small supervisor process (this binary, re-entered
//!   before `serve`), so tasks outlive the plugin and a restarted plugin
//!   recovers them with their real exit codes;
//! - a cgroup per task that enforces its `resources` (memory, CPU shares,
//!   reserved cores), reports an OOM kill, measures the task's whole
//!   process tree, and is killed whole by stop and destroy;
//! - exec into the task (`nomad alloc exec`, with a terminal, and script
//!   checks).
//!
//! Replace the `LaunchSpec` in `start_task` with your runtime's command
//! line, or replace the executor calls with calls to your runtime.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
use nomad_plugin_sdk::driver::{
    self, process, Capabilities, Driver, EventBus, ExecOutput, ExecSession, ExitResult,
    Fingerprint, RecoveredTask, StartedTask, TaskEvent, TaskResourceUsage, TaskStatus, TaskStore,
};
use nomad_plugin_sdk::executor::{
    CgroupHost, Executor, ExecutorError, ExecutorState, ExecutorTask, LaunchSpec, Limits,
};
use nomad_plugin_sdk::PluginError;
use serde::{Deserialize, Serialize};

const NAME: &str = "{{name}}";

/// The agent's `plugin "{{name}}" { config { ... } }` block.
#[derive(Debug, Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct PluginConfig {
    /// Signal sent to stop a task whose job sets no `kill_signal`.
    #[nomad(default = "SIGINT")]
    default_signal: String,
    /// Where task records (spec, exit status) live; they must survive a
    /// plugin restart. Default: `{{name}}` in the system temp dir.
    state_dir: Option<String>,
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
struct TaskRecord {
    executor: ExecutorState,
}

/// A task this driver runs.
struct Task {
    name: String,
    alloc_id: String,
    exec: ExecutorTask,
}

/// The driver.
struct CommandDriver {
    default_signal: RwLock<String>,
    executor: RwLock<Executor>,
    tasks: TaskStore<Task>,
    events: EventBus,
}

fn executor(state_dir: PathBuf) -> Executor {
    // Without cgroups (a container without access to them) tasks still
    // run, without limits; the fingerprint says why.
    Executor::new(state_dir).with_cgroups(CgroupHost::detect(NAME).ok())
}

impl CommandDriver {
    fn new() -> Self {
        CommandDriver {
            default_signal: RwLock::new("SIGINT".into()),
            executor: RwLock::new(executor(std::env::temp_dir().join(NAME))),
            tasks: TaskStore::new(),
            events: EventBus::new(),
        }
    }

    fn executor(&self) -> Executor {
        self.executor
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn default_signal(&self) -> String {
        self.default_signal
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn event(&self, task: &Task, task_id: &str, message: String) {
        self.events
            .emit(TaskEvent::new(task_id, &task.alloc_id, &task.name, message));
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
        let state_dir = config
            .state_dir
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join(NAME));
        *self.executor.write().unwrap_or_else(|e| e.into_inner()) = executor(state_dir);
        *self
            .default_signal
            .write()
            .unwrap_or_else(|e| e.into_inner()) = config.default_signal;
        Ok(())
    }
}

#[nomad_plugin_sdk::async_trait]
impl Driver for CommandDriver {
    type TaskConfig = CommandConfig;
    type State = TaskRecord;

    fn capabilities(&self) -> Capabilities {
        // Tasks see the host's filesystem; volume mounts are not made.
        Capabilities::default()
            .send_signals(true)
            .exec(true)
            .mounts(false)
    }

    async fn fingerprint(&self) -> Fingerprint {
        let fp = Fingerprint::healthy()
            .attribute(format!("driver.{NAME}.version"), env!("CARGO_PKG_VERSION"));
        match self.executor().cgroup_problem() {
            Some(why) => fp.attribute(
                format!("driver.{NAME}.cgroups"),
                format!("unavailable: {why}"),
            ),
            None => fp,
        }
    }

    fn events(&self) -> Option<&EventBus> {
        Some(&self.events)
    }

    async fn start_task(
        &self,
        task: driver::Task<CommandConfig>,
    ) -> Result<StartedTask<TaskRecord>, PluginError> {
        if self.tasks.contains(&task.id) {
            return Err(PluginError::AlreadyExists(format!(
                "task {:?} is already running",
                task.id
            )));
        }
        let executor = self.executor();
        // The task's environment, directory, user, log FIFOs and resources,
        // as Nomad's exec drivers use them.
        let mut spec = LaunchSpec::for_task(&task.id, &task.name, &task.task, &task.config.command)
            .args(task.config.args.clone());
        if executor.cgroups().is_none() {
            spec.limits = Limits::none();
        }
        let exec = executor.launch(spec).await?;
        let state = TaskRecord {
            executor: exec.state().clone(),
        };
        let pid = exec.pid();
        let t = self.tasks.insert(
            &task.id,
            Task {
                name: task.name.clone(),
                alloc_id: task.task.alloc_id.clone(),
                exec,
            },
        );
        self.event(&t, &task.id, format!("Started process {pid}"));
        Ok(StartedTask::new(state))
    }

    async fn recover_task(
        &self,
        task: RecoveredTask<CommandConfig, TaskRecord>,
    ) -> Result<(), PluginError> {
        if self.tasks.contains(&task.id) {
            return Ok(());
        }
        // The task's supervisor kept running while the plugin was gone, or
        // recorded how the task exited.
        let exec = self.executor().recover(&task.state.executor).await?;
        let t = self.tasks.insert(
            &task.id,
            Task {
                name: task.name.clone(),
                alloc_id: task.task.alloc_id.clone(),
                exec,
            },
        );
        self.event(&t, &task.id, "Recovered after a plugin restart".into());
        Ok(())
    }

    async fn wait_task(&self, task_id: &str) -> Result<ExitResult, PluginError> {
        Ok(self.tasks.get(task_id)?.exec.wait().await)
    }

    async fn stop_task(
        &self,
        task_id: &str,
        timeout: Duration,
        signal: &str,
    ) -> Result<(), PluginError> {
        let task = self.tasks.get(task_id)?;
        let signal = if signal.is_empty() {
            self.default_signal()
        } else {
            signal.to_string()
        };
        signal_number(&signal)?;
        Ok(task.exec.stop(&signal, timeout).await?)
    }

    async fn destroy_task(&self, task_id: &str, force: bool) -> Result<(), PluginError> {
        let task = self.tasks.get(task_id)?;
        if task.exec.exit().is_none() && !force {
            return Err(PluginError::FailedPrecondition(format!(
                "task {task_id:?} is still running; stop it first"
            )));
        }
        task.exec.destroy().await?;
        self.tasks.remove(task_id);
        Ok(())
    }

    async fn inspect_task(&self, task_id: &str) -> Result<TaskStatus, PluginError> {
        Ok(self.tasks.get(task_id)?.exec.status())
    }

    async fn task_stats(&self, task_id: &str) -> Result<TaskResourceUsage, PluginError> {
        match self.tasks.get(task_id)?.exec.stats() {
            // An error ends Nomad's statistics stream for the task.
            Err(ExecutorError::Exited) => Err(PluginError::NotFound(format!(
                "task {task_id:?} has exited"
            ))),
            r => Ok(r?),
        }
    }

    async fn signal_task(&self, task_id: &str, signal: &str) -> Result<(), PluginError> {
        Ok(self.tasks.get(task_id)?.exec.signal(signal)?)
    }

    async fn exec_task(
        &self,
        task_id: &str,
        command: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecOutput, PluginError> {
        Ok(self
            .tasks
            .get(task_id)?
            .exec
            .exec(&command, timeout)
            .await?)
    }

    async fn exec_task_streaming(&self, session: ExecSession) -> Result<ExitResult, PluginError> {
        let task = self.tasks.get(&session.task_id)?;
        Ok(task.exec.exec_session(session).await?)
    }
}

fn main() -> std::process::ExitCode {
    // In the role of a task's supervisor this runs it and never returns.
    nomad_plugin_sdk::executor::run_supervisor_if_requested();
    driver::serve(CommandDriver::new())
}

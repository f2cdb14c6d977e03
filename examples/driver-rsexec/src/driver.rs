//! The `rsexec` driver: Nomad's task lifecycle over supervised processes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
use nomad_plugin_sdk::driver::process;
use nomad_plugin_sdk::driver::{
    self, Capabilities, EventBus, ExecOutput, ExecSession, ExitResult, Fingerprint, RecoveredTask,
    StartedTask, TaskEvent, TaskResourceUsage, TaskStatus, TaskStore,
};
use nomad_plugin_sdk::executor::{Executor, ExecutorState, ExecutorTask, LaunchSpec, Limits};
use nomad_plugin_sdk::PluginError;
use serde::{Deserialize, Serialize};

const NAME: &str = "rsexec";

/// The agent's `plugin "rsexec" { config { ... } }` block.
#[derive(Debug, Clone, Deserialize, nomad_plugin_sdk::ConfigSchema)]
pub struct AgentSettings {
    /// Directory for task records (spec, exit status). Default: a
    /// `rsexec` directory in the system temp dir.
    pub state_dir: Option<String>,
    /// Signal for stopping tasks whose job sets no `kill_signal`.
    #[nomad(default = "SIGINT")]
    pub default_signal: String,
    /// The cgroup (under each hierarchy) that holds the tasks' cgroups.
    #[nomad(default = "nomad-rs")]
    pub cgroup_parent: String,
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
    /// Enforce the task's `cpu` as a hard limit (a CFS quota), as Nomad's
    /// exec driver does with `cpu_hard_limit`.
    #[serde(default)]
    pub cpu_hard_limit: bool,
    /// The CFS period for `cpu_hard_limit`, in microseconds (default
    /// 100000).
    #[serde(default)]
    pub cpu_cfs_period: u64,
}

/// What Nomad keeps for each task: enough to find it after any restart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RsExecState {
    /// The executor's record of the task.
    pub executor: ExecutorState,
}

struct Task {
    name: String,
    alloc_id: String,
    exec: ExecutorTask,
}

/// The driver.
#[derive(Default)]
pub struct RsExec {
    settings: RwLock<Option<AgentSettings>>,
    executor: RwLock<Option<Executor>>,
    tasks: TaskStore<Task>,
    events: EventBus,
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

    /// The executor, made on first use from the agent config.
    fn executor(&self) -> Executor {
        if let Some(e) = self.executor.read().ok().and_then(|e| e.clone()) {
            return e;
        }
        let parent = self
            .settings
            .read()
            .ok()
            .and_then(|s| s.as_ref().map(|s| s.cgroup_parent.clone()))
            .unwrap_or_else(|| "nomad-rs".into());
        let host = nomad_plugin_sdk::executor::CgroupHost::detect(&parent).ok();
        let e = Executor::new(self.state_root()).with_cgroups(host);
        if let Ok(mut slot) = self.executor.write() {
            *slot = Some(e.clone());
        }
        e
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
        if let Ok(mut e) = self.executor.write() {
            *e = None;
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
        let executor = self.executor();
        let fp = Fingerprint::healthy()
            .attribute(format!("driver.{NAME}.version"), env!("CARGO_PKG_VERSION"));
        match executor.cgroups() {
            Some(cg) => fp.attribute(
                format!("driver.{NAME}.cgroup.version"),
                match cg.version() {
                    nomad_plugin_sdk::executor::CgroupVersion::V1 => "1",
                    nomad_plugin_sdk::executor::CgroupVersion::V2 => "2",
                },
            ),
            // raw_exec-like: tasks still run, without limits.
            None => fp.attribute(
                format!("driver.{NAME}.cgroup.missing"),
                executor
                    .cgroup_problem()
                    .unwrap_or("no cgroups")
                    .to_string(),
            ),
        }
    }

    fn events(&self) -> Option<&EventBus> {
        Some(&self.events)
    }

    async fn start_task(
        &self,
        task: driver::Task<RsExecTask>,
    ) -> Result<StartedTask<RsExecState>, PluginError> {
        if self.tasks.contains(&task.id) {
            return Err(PluginError::AlreadyExists(format!(
                "task {:?} is already running",
                task.id
            )));
        }
        let cfg = &task.config;
        if cfg.command.is_empty() {
            return Err(PluginError::InvalidConfig(
                "command must not be empty".into(),
            ));
        }
        let executor = self.executor();
        let mut spec = LaunchSpec::for_task(&task.id, &task.name, &task.task, cfg.command.clone())
            .args(cfg.args.clone());
        // raw_exec-like: the host's environment, then Nomad's, then ours.
        let mut env: BTreeMap<String, String> = std::env::vars().collect();
        env.extend(spec.env);
        env.extend(cfg.env.clone());
        spec.env = env;
        if let Some(cwd) = &cfg.cwd {
            spec.cwd = cwd.into();
        }
        spec.limits = if executor.cgroups().is_some() {
            Limits::from_resources(&task.task.resources, cfg.cpu_hard_limit, cfg.cpu_cfs_period)?
        } else {
            Limits::none()
        };
        let exec = executor.launch(spec).await?;
        let state = RsExecState {
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
        tracing::info!(task_id = %task.id, pid, "task started");
        Ok(StartedTask::new(state))
    }

    async fn recover_task(
        &self,
        task: RecoveredTask<RsExecTask, RsExecState>,
    ) -> Result<(), PluginError> {
        if self.tasks.contains(&task.id) {
            return Ok(());
        }
        let exec = self
            .executor()
            .recover(&task.state.executor)
            .await
            .map_err(|e| PluginError::NotFound(format!("task {:?}: {e}", task.id)))?;
        let t = self.tasks.insert(
            &task.id,
            Task {
                name: task.name.clone(),
                alloc_id: task.task.alloc_id.clone(),
                exec,
            },
        );
        self.event(&t, &task.id, "Recovered after a plugin restart".into());
        tracing::info!(task_id = %task.id, "task recovered");
        Ok(())
    }

    async fn wait_task(&self, task_id: &str) -> Result<ExitResult, PluginError> {
        let task = self.tasks.get(task_id)?;
        Ok(task.exec.wait().await)
    }

    async fn stop_task(
        &self,
        task_id: &str,
        timeout: Duration,
        signal: &str,
    ) -> Result<(), PluginError> {
        let task = self.tasks.get(task_id)?;
        let name = if signal.is_empty() {
            self.default_signal()
        } else {
            signal.to_string()
        };
        if process::signal_number(&name).is_none() {
            return Err(PluginError::InvalidArgument(format!(
                "unknown signal {name:?}"
            )));
        }
        Ok(task.exec.stop(&name, timeout).await?)
    }

    async fn destroy_task(&self, task_id: &str, force: bool) -> Result<(), PluginError> {
        let task = self.tasks.get(task_id)?;
        if task.exec.exit().is_none() && !force {
            return Err(PluginError::FailedPrecondition(format!(
                "task {task_id:?} is still running; stop it first or destroy with force"
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
        let task = self.tasks.get(task_id)?;
        task.exec.stats().map_err(|e| match e {
            nomad_plugin_sdk::executor::ExecutorError::Exited => {
                PluginError::NotFound(format!("task {task_id:?} has exited"))
            }
            e => e.into(),
        })
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
        let task = self.tasks.get(task_id)?;
        Ok(task.exec.exec(&command, timeout).await?)
    }

    async fn exec_task_streaming(&self, session: ExecSession) -> Result<ExitResult, PluginError> {
        let task = self.tasks.get(&session.task_id)?;
        Ok(task.exec.exec_session(session).await?)
    }
}

//! The `rschroot` driver: Nomad's task lifecycle over the executor, with
//! namespaces and a chroot.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
use nomad_plugin_sdk::driver::{
    self, process, Capabilities, EventBus, ExecOutput, ExecSession, ExitResult, Fingerprint,
    FsIsolation, RecoveredTask, StartedTask, TaskEvent, TaskResourceUsage, TaskStatus, TaskStore,
};
use nomad_plugin_sdk::executor::{
    CgroupHost, Chroot, Executor, ExecutorError, ExecutorState, ExecutorTask, Isolation,
    LaunchSpec, Limits, DEFAULT_CHROOT_ENV,
};
use nomad_plugin_sdk::PluginError;
use serde::{Deserialize, Serialize};

const NAME: &str = "rschroot";

/// The agent's `plugin "rschroot" { config { ... } }` block.
#[derive(Debug, Clone, Deserialize, nomad_plugin_sdk::ConfigSchema)]
pub struct AgentSettings {
    /// Directory for task records. Default: `rschroot` in the temp dir.
    pub state_dir: Option<String>,
    /// Host paths (keys) bind-mounted read-only into every task's chroot at
    /// the paths given (values). Default: Nomad's exec driver's list.
    pub chroot_env: Option<BTreeMap<String, String>>,
    /// Signal for stopping tasks whose job sets no `kill_signal`.
    #[nomad(default = "SIGINT")]
    pub default_signal: String,
}

/// A task's `config { ... }` block.
#[derive(Debug, Clone, Deserialize, nomad_plugin_sdk::ConfigSchema)]
pub struct TaskSettings {
    /// The program, as a path inside the chroot.
    #[nomad(required)]
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Enforce the task's `cpu` as a hard limit (a CFS quota).
    #[serde(default)]
    pub cpu_hard_limit: bool,
    /// The CFS period for `cpu_hard_limit`, in microseconds.
    #[serde(default)]
    pub cpu_cfs_period: u64,
}

/// What Nomad keeps for each task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
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
pub struct RsChroot {
    settings: RwLock<Option<AgentSettings>>,
    executor: RwLock<Option<Executor>>,
    tasks: TaskStore<Task>,
    events: EventBus,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl RsChroot {
    fn settings(&self) -> Option<AgentSettings> {
        self.settings.read().ok().and_then(|s| s.clone())
    }

    fn executor(&self) -> Executor {
        if let Some(e) = self.executor.read().ok().and_then(|e| e.clone()) {
            return e;
        }
        let dir = self
            .settings()
            .and_then(|s| s.state_dir)
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join(NAME));
        let e = Executor::new(dir).with_cgroups(CgroupHost::detect(NAME).ok());
        if let Ok(mut slot) = self.executor.write() {
            *slot = Some(e.clone());
        }
        e
    }

    fn chroot_env(&self) -> BTreeMap<String, String> {
        self.settings()
            .and_then(|s| s.chroot_env)
            .unwrap_or_else(|| {
                DEFAULT_CHROOT_ENV
                    .iter()
                    .map(|p| (p.to_string(), p.to_string()))
                    .collect()
            })
    }

    fn event(&self, task: &Task, id: &str, message: String) {
        self.events
            .emit(TaskEvent::new(id, &task.alloc_id, &task.name, message));
    }
}

#[nomad_plugin_sdk::async_trait]
impl BasePlugin for RsChroot {
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
        for inside in config.chroot_env.iter().flat_map(|m| m.values()) {
            if !inside.starts_with('/') || inside.split('/').any(|c| c == "..") {
                return Err(PluginError::InvalidConfig(format!(
                    "chroot_env: {inside:?} is not a plain absolute path"
                )));
            }
        }
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
impl driver::Driver for RsChroot {
    type TaskConfig = TaskSettings;
    type State = State;

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
            .send_signals(true)
            .exec(true)
            .fs_isolation(FsIsolation::Chroot)
    }

    async fn fingerprint(&self) -> Fingerprint {
        // Nomad's exec driver's own words for these two.
        if !is_root() {
            return Fingerprint::unhealthy("Driver must run as root");
        }
        let executor = self.executor();
        let Some(cg) = executor.cgroups() else {
            return Fingerprint::unhealthy(format!(
                "Failed to discover cgroup mount point: {}",
                executor.cgroup_problem().unwrap_or("no cgroups")
            ));
        };
        let version = match cg.version() {
            nomad_plugin_sdk::executor::CgroupVersion::V1 => "1",
            nomad_plugin_sdk::executor::CgroupVersion::V2 => "2",
        };
        Fingerprint::healthy()
            .attribute(format!("driver.{NAME}.version"), env!("CARGO_PKG_VERSION"))
            .attribute(format!("driver.{NAME}.cgroup.version"), version)
    }

    fn events(&self) -> Option<&EventBus> {
        Some(&self.events)
    }

    async fn start_task(
        &self,
        task: driver::Task<TaskSettings>,
    ) -> Result<StartedTask<State>, PluginError> {
        if self.tasks.contains(&task.id) {
            return Err(PluginError::AlreadyExists(format!(
                "task {:?} is already running",
                task.id
            )));
        }
        let cfg = &task.config;
        let executor = self.executor();
        let mut spec = LaunchSpec::for_task(&task.id, &task.name, &task.task, cfg.command.clone())
            .args(cfg.args.clone());
        spec.cwd = task.task.task_dir(&task.name);
        spec.limits =
            Limits::from_resources(&task.task.resources, cfg.cpu_hard_limit, cfg.cpu_cfs_period)?;
        let mut chroot = Chroot::for_task(&task.task.alloc_dir, &task.name);
        chroot.env = self.chroot_env();
        spec.isolation = Isolation::exec_driver(chroot);
        let exec = executor.launch(spec).await?;
        let state = State {
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
        task: RecoveredTask<TaskSettings, State>,
    ) -> Result<(), PluginError> {
        if self.tasks.contains(&task.id) {
            return Ok(());
        }
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
        let name = match signal {
            "" => self
                .settings()
                .map(|s| s.default_signal)
                .unwrap_or_else(|| "SIGINT".into()),
            s => s.to_string(),
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
        match self.tasks.get(task_id)?.exec.stats() {
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

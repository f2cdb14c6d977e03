//! A driver plugin under test, held the way the Nomad client holds it, with
//! typed calls for a vendor's own tests (the Rust counterpart of Nomad's
//! `plugins/drivers/testutils.DriverHarness`, but across the process
//! boundary: the harness launches the real binary).
//!
//! ```no_run
//! # async fn demo() -> Result<(), nomad_plugin_testkit::driver::HarnessError> {
//! use std::time::Duration;
//! use nomad_plugin_testkit::driver::DriverHarness;
//!
//! // Launch as the agent does (three launches: info, validation, the real
//! // instance), configured from the agent's HCL.
//! let harness = DriverHarness::builder("target/debug/my-driver")
//!     .config_hcl(r#"state_dir = "/tmp/state""#)
//!     .launch()
//!     .await?;
//! assert_eq!(harness.info().name, "my-driver");
//!
//! // A task from the job's `config { ... }` HCL, in a real alloc dir with
//! // log FIFOs read as logmon reads them.
//! let task = harness
//!     .task("web")
//!     .config_hcl(r#"command = "/bin/sh"
//! args = ["-c", "echo hello; exit 3"]"#)
//!     .start()
//!     .await?;
//! let exit = harness.wait(&task).await?;
//! assert_eq!(exit.exit_code, 3);
//! task.wait_for_stdout("hello").await?;
//! harness.destroy(&task).await?;
//! harness.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Every call has a deadline (the harness's [`patience`], 30 s unless set)
//! and fails with a [`HarnessError`] that says what went wrong; nothing in
//! the API is a protobuf type. Dropping a [`Task`] kills whatever of it is
//! still running (found by its `NOMAD_ALLOC_ID`) and removes its alloc
//! dir; dropping the harness stops the plugin and removes its work dir.
//!
//! [`patience`]: DriverHarnessBuilder::patience

mod error;
mod types;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::channel::mpsc;
use nomad_plugin_proto::nomad::drivers as pb;
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_sdk::config::schema::Spec;
use tonic::transport::Channel;

use self::error::call;
pub use self::error::HarnessError;
pub(crate) use self::types::time;
pub use self::types::{
    Attribute, Capabilities, CpuStats, ExecOutput, ExecSession, ExitResult, Fingerprint,
    FsIsolation, Health, MemoryStats, PluginInfo, TaskEvent, TaskState, TaskStats, TaskStatus,
};
use super::base::{self, BaseOutcome, ConfigSource};
use super::fixture::{self, TaskFixture, TaskSpec};
use super::instance::Instance;
use crate::launch::{Launcher, PluginAddress, StderrLine};

/// Builds a [`DriverHarness`]: which binary, how it is configured, how
/// patient every call is.
#[derive(Debug, Clone)]
pub struct DriverHarnessBuilder {
    launcher: Launcher,
    config: ConfigSource,
    patience: Duration,
    work_dir: Option<PathBuf>,
}

impl DriverHarnessBuilder {
    /// The body of the agent's `plugin "<name>" { config { ... } }` block.
    pub fn config_hcl(mut self, body: impl Into<String>) -> Self {
        self.config = ConfigSource::Body(body.into());
        self
    }

    /// A whole agent configuration file's text: its `plugin "<name>"`
    /// block (the name from `PluginInfo`) is decoded, as the agent does.
    pub fn agent_hcl(mut self, agent: impl Into<String>) -> Self {
        self.config = ConfigSource::AgentFile(agent.into());
        self
    }

    /// Sets an environment variable for every launch of the plugin.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.launcher = self.launcher.env(key, value);
        self
    }

    /// Adds a command-line argument for every launch of the plugin.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.launcher = self.launcher.arg(arg);
        self
    }

    /// Attaches to a plugin started by hand in attach mode
    /// (`NOMAD_PLUGIN_ATTACH=1`) instead of launching the binary: every
    /// launch connects to `endpoint`, every stop only disconnects, and
    /// [`DriverHarness::kill_plugin`] refuses.
    pub fn attach(mut self, endpoint: crate::launch::Endpoint, pid: u32) -> Self {
        self.launcher = self.launcher.attach_to(endpoint, pid);
        self
    }

    /// The longest any one call waits (an RPC answer, task output, a
    /// stream message); default 30 s. Nothing waits this long when the
    /// plugin behaves.
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// Where the harness creates its work directory (alloc dirs); default
    /// the system's temporary directory. The harness removes its own
    /// subdirectory when dropped.
    pub fn work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = Some(dir.into());
        self
    }

    /// Launches the plugin as a Nomad agent does at start-up: launch #1
    /// (`PluginInfo`, `ConfigSchema`, stop), launch #2 (`SetConfig` twice
    /// without agent config, stop; only with a config schema), launch #3
    /// (`SetConfig` with the agent config, `Init`, the Fingerprint and
    /// TaskEvents streams), then `Capabilities` and `TaskConfigSchema`.
    /// The first step that fails is the error, worded as the driver suite
    /// words that check.
    pub async fn launch(self) -> Result<DriverHarness, HarnessError> {
        let mut failure = None;
        let mut record = |step: &str, result: Result<String, String>| match result {
            Ok(_) => true,
            Err(message) => {
                failure.get_or_insert((step.to_string(), message));
                false
            }
        };
        let outcome = base::run(&self.launcher, &self.config, self.patience, &mut record).await;
        let Some(outcome) = outcome else {
            let (step, message) =
                failure.unwrap_or_else(|| ("base".into(), "the start-up sequence failed".into()));
            return Err(HarnessError::Startup { step, message });
        };
        let mut harness = DriverHarness::from_outcome(
            self.launcher,
            outcome,
            self.patience,
            self.work_dir.as_deref(),
        )
        .await?;
        let caps = call(
            harness.patience,
            "Capabilities",
            harness.client()?.capabilities(pb::CapabilitiesRequest {}),
        )
        .await?;
        harness.caps = caps.capabilities.unwrap_or_default();
        let schema = call(
            harness.patience,
            "TaskConfigSchema",
            harness
                .client()?
                .task_config_schema(pb::TaskConfigSchemaRequest {}),
        )
        .await?;
        let spec = schema.spec.ok_or_else(|| HarnessError::Startup {
            step: "task_config_schema.present".into(),
            message:
                "TaskConfigSchema returned no spec: Nomad fails every task with \"nil spec given\""
                    .into(),
        })?;
        harness.task_spec = Some(nomad_plugin_sdk::host::schema::from_proto(&spec).map_err(
            |e| HarnessError::Startup {
                step: "task_config_schema.present".into(),
                message: format!(
                    "TaskConfigSchema returned a spec Nomad cannot use ({e}): every task fails"
                ),
            },
        )?);
        Ok(harness)
    }
}

/// A launched, configured driver plugin, as the Nomad client's driver
/// manager holds it. See the [module docs](self) for an example.
pub struct DriverHarness {
    launcher: Launcher,
    patience: Duration,
    work_dir: PathBuf,
    info: PluginInfo,
    plugin_config: Vec<u8>,
    caps: pb::DriverCapabilities,
    task_spec: Option<Spec>,
    instance: Option<Instance>,
}

impl std::fmt::Debug for DriverHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverHarness")
            .field("binary", &self.launcher.binary())
            .field("info", &self.info)
            .field("work_dir", &self.work_dir)
            .field("connected", &self.instance.is_some())
            .finish_non_exhaustive()
    }
}

/// Where a running plugin can be reached again: what Nomad persists so a
/// restarted agent can reattach.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReattachConfig {
    /// The address from the handshake line.
    pub address: PluginAddress,
    /// The plugin's process id.
    pub pid: u32,
}

impl DriverHarness {
    /// A builder for the plugin at `binary`, launched with a Nomad agent's
    /// environment and an empty plugin config.
    pub fn builder(binary: impl Into<PathBuf>) -> DriverHarnessBuilder {
        DriverHarnessBuilder {
            launcher: Launcher::nomad(binary).null_stdin(),
            config: ConfigSource::Body(String::new()),
            patience: Duration::from_secs(30),
            work_dir: None,
        }
    }

    /// Launches the real instance (#3) for a start-up the suite already
    /// checked step by step.
    pub(crate) async fn from_outcome(
        launcher: Launcher,
        outcome: BaseOutcome,
        patience: Duration,
        work_dir: Option<&Path>,
    ) -> Result<DriverHarness, HarnessError> {
        let base_dir = work_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let work_dir = base_dir.join(format!(
            "nomad-testkit-harness-{}-{:08x}",
            std::process::id(),
            fixture::random_u64() as u32
        ));
        std::fs::create_dir_all(&work_dir).map_err(HarnessError::Setup)?;
        let instance = Instance::launch(
            launcher.clone(),
            outcome.plugin_config.clone(),
            &outcome.api_version,
            patience,
        )
        .await;
        let instance = match instance {
            Ok(i) => i,
            Err(message) => {
                let _ = std::fs::remove_dir_all(&work_dir);
                return Err(HarnessError::Startup {
                    step: "base.instance".into(),
                    message,
                });
            }
        };
        Ok(DriverHarness {
            launcher,
            patience,
            work_dir,
            info: PluginInfo {
                name: outcome.name,
                version: outcome.version,
                api_version: outcome.api_version,
            },
            plugin_config: outcome.plugin_config,
            caps: pb::DriverCapabilities::default(),
            task_spec: None,
            instance: Some(instance),
        })
    }

    /// What `PluginInfo` said.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// What `Capabilities` said at launch.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities::from(&self.caps)
    }

    /// The harness's patience: how long any one call waits.
    pub fn patience(&self) -> Duration {
        self.patience
    }

    /// The work directory the alloc dirs are created in.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Every stderr line of the running plugin so far (its hclog output).
    pub fn plugin_logs(&self) -> Vec<StderrLine> {
        self.instance
            .as_ref()
            .map(|i| i.plugin.logs())
            .unwrap_or_default()
    }

    /// The plugin's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.instance.as_ref().and_then(|i| i.plugin.pid())
    }

    /// Where the running plugin can be reached, as Nomad persists it.
    pub fn reattach_config(&self) -> Option<ReattachConfig> {
        let i = self.instance.as_ref()?;
        Some(ReattachConfig {
            address: i.plugin.address().clone(),
            pid: i.plugin.pid()?,
        })
    }

    pub(crate) fn instance(&self) -> Option<&Instance> {
        self.instance.as_ref()
    }

    pub(crate) fn take_instance(&mut self) -> Option<Instance> {
        self.instance.take()
    }

    pub(crate) fn set_capabilities(&mut self, caps: pb::DriverCapabilities) {
        self.caps = caps;
    }

    pub(crate) fn set_task_spec(&mut self, spec: Spec) {
        self.task_spec = Some(spec);
    }

    /// The raw client of the running instance (for the suite's checks).
    pub(crate) fn client(&self) -> Result<DriverClient<Channel>, HarnessError> {
        self.instance
            .as_ref()
            .map(|i| i.client.clone())
            .ok_or(HarnessError::NotConnected(
                "it was killed; call relaunch() first",
            ))
    }

    /// The first fingerprint the driver sent (waits for it).
    pub async fn fingerprint(&self) -> Result<Fingerprint, HarnessError> {
        let i = self
            .instance
            .as_ref()
            .ok_or(HarnessError::NotConnected("no fingerprint stream"))?;
        if !i.fingerprints.wait_count(1, self.patience).await {
            return Err(match i.fingerprints.end() {
                Some((_, end)) => HarnessError::Protocol(format!(
                    "the fingerprint stream {end} before any message: Nomad marks the driver unhealthy"
                )),
                None => HarnessError::Timeout {
                    what: "the first fingerprint".into(),
                    after: self.patience,
                },
            });
        }
        i.fingerprints
            .items()
            .first()
            .map(|(_, f)| Fingerprint::from(f))
            .ok_or_else(|| HarnessError::Protocol("no fingerprint".into()))
    }

    /// Every fingerprint received so far on the current connection.
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        self.instance
            .as_ref()
            .map(|i| {
                i.fingerprints
                    .items()
                    .iter()
                    .map(|(_, f)| Fingerprint::from(f))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every task event received so far on the current connection.
    pub fn events(&self) -> Vec<TaskEvent> {
        self.instance
            .as_ref()
            .map(|i| {
                i.events
                    .items()
                    .iter()
                    .map(|(_, e)| TaskEvent::from(e))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits for a task event that satisfies `pred`.
    pub async fn wait_for_event(
        &self,
        pred: impl Fn(&TaskEvent) -> bool,
    ) -> Result<TaskEvent, HarnessError> {
        let i = self
            .instance
            .as_ref()
            .ok_or(HarnessError::NotConnected("no task event stream"))?;
        let found = |items: &[(tokio::time::Instant, pb::DriverTaskEvent)]| {
            items
                .iter()
                .map(|(_, e)| TaskEvent::from(e))
                .find(|e| pred(e))
        };
        i.events
            .wait_until(self.patience, |items, end| {
                found(items).is_some() || end.is_some()
            })
            .await;
        if let Some(e) = found(&i.events.items()) {
            return Ok(e);
        }
        Err(match i.events.end() {
            Some((_, end)) => HarnessError::Protocol(format!(
                "the TaskEvents stream {end}: Nomad reopens it, and events sent meanwhile are lost"
            )),
            None => HarnessError::Timeout {
                what: "a matching task event".into(),
                after: self.patience,
            },
        })
    }

    /// A task to prepare and start: `harness.task("web").config_hcl(..).start()`.
    pub fn task(&self, name: impl Into<String>) -> TaskBuilder<'_> {
        TaskBuilder {
            harness: self,
            name: name.into(),
            hcl: String::new(),
            env: Vec::new(),
        }
    }

    /// Builds the alloc dir, log FIFOs and `TaskConfig` for a task whose
    /// driver config is already encoded.
    pub(crate) fn fixture(
        &self,
        name: &str,
        msgpack_config: Vec<u8>,
    ) -> std::io::Result<TaskFixture> {
        fixture_in(&self.work_dir, &self.caps, name, msgpack_config)
    }

    /// `StartTask` for a prepared fixture on the running instance.
    pub(crate) async fn start_fixture(
        &self,
        fixture: &TaskFixture,
    ) -> Result<pb::StartTaskResponse, HarnessError> {
        start_raw(&mut self.client()?, fixture, self.patience).await
    }

    /// Whether the plugin still answers (a cheap `Capabilities` call).
    pub(crate) async fn serving(&self) -> Result<(), String> {
        match &self.instance {
            Some(i) => i.serving(self.patience).await,
            None => Err("the plugin is not running".into()),
        }
    }

    fn require_handle(resp: pb::StartTaskResponse) -> Result<pb::TaskHandle, HarnessError> {
        let handle = resp.handle.ok_or_else(|| {
            HarnessError::Protocol(
                "StartTask returned no handle: Nomad's client dereferences it and panics".into(),
            )
        })?;
        if handle.config.is_none() {
            return Err(HarnessError::Protocol(
                "StartTask returned a handle without its config: Nomad's client panics reading it"
                    .into(),
            ));
        }
        Ok(handle)
    }

    /// `WaitTask`: waits for the task to exit and returns how it ended.
    pub async fn wait(&self, task: &Task) -> Result<ExitResult, HarnessError> {
        let r = call(
            self.patience,
            "WaitTask",
            self.client()?.wait_task(pb::WaitTaskRequest {
                task_id: task.id().into(),
            }),
        )
        .await?;
        let res = r.result.ok_or_else(|| {
            HarnessError::Protocol(format!(
                "WaitTask returned no result (err {:?}): Nomad's client reports the task as failed",
                r.err
            ))
        })?;
        Ok(ExitResult::from_pb(&res, &r.err))
    }

    /// `InspectTask`.
    pub async fn inspect(&self, task: &Task) -> Result<TaskStatus, HarnessError> {
        let r = call(
            self.patience,
            "InspectTask",
            self.client()?.inspect_task(pb::InspectTaskRequest {
                task_id: task.id().into(),
            }),
        )
        .await?;
        if r.task.is_none() {
            return Err(HarnessError::Protocol(
                "InspectTask returned no task: Nomad's client returns an error".into(),
            ));
        }
        Ok(TaskStatus::from(&r))
    }

    /// Polls `InspectTask` every 100 ms until the task runs, as Nomad's
    /// driver harness (`WaitUntilStarted`) does.
    pub async fn wait_running(&self, task: &Task) -> Result<TaskStatus, HarnessError> {
        let mut client = self.client()?;
        super::wait_running(&mut client, task.id(), self.patience)
            .await
            .map(|r| TaskStatus::from(&r))
            .map_err(HarnessError::Protocol)
    }

    /// `SignalTask` (`nomad alloc signal -s SIGNAL`).
    pub async fn signal(&self, task: &Task, signal: &str) -> Result<(), HarnessError> {
        call(
            self.patience,
            "SignalTask",
            self.client()?.signal_task(pb::SignalTaskRequest {
                task_id: task.id().into(),
                signal: signal.into(),
            }),
        )
        .await
        .map(|_| ())
    }

    /// `StopTask` with the job's `kill_signal` and `kill_timeout`; returns
    /// once the driver says the task is stopped. Use [`DriverHarness::wait`]
    /// for how it exited.
    pub async fn stop(
        &self,
        task: &Task,
        signal: &str,
        kill_timeout: Duration,
    ) -> Result<(), HarnessError> {
        call(
            self.patience + kill_timeout,
            "StopTask",
            self.client()?.stop_task(pb::StopTaskRequest {
                task_id: task.id().into(),
                timeout: Some(duration(kill_timeout)),
                signal: signal.into(),
            }),
        )
        .await
        .map(|_| ())
    }

    /// `DestroyTask(force = true)`, as the client does after every task.
    pub async fn destroy(&self, task: &Task) -> Result<(), HarnessError> {
        self.destroy_id(task.id(), true).await
    }

    /// `DestroyTask` with an explicit `force`.
    pub async fn destroy_with(&self, task: &Task, force: bool) -> Result<(), HarnessError> {
        self.destroy_id(task.id(), force).await
    }

    pub(crate) async fn destroy_id(&self, task_id: &str, force: bool) -> Result<(), HarnessError> {
        call(
            self.patience,
            "DestroyTask",
            self.client()?.destroy_task(pb::DestroyTaskRequest {
                task_id: task_id.into(),
                force,
            }),
        )
        .await
        .map(|_| ())
    }

    /// `ExecTask` (script checks, template scripts): runs `command` in the
    /// task and returns its output once it exits or `timeout` passes.
    pub async fn exec<S: Into<String>>(
        &self,
        task: &Task,
        command: impl IntoIterator<Item = S>,
        timeout: Duration,
    ) -> Result<ExecOutput, HarnessError> {
        let r = call(
            self.patience + timeout,
            "ExecTask",
            self.client()?.exec_task(pb::ExecTaskRequest {
                task_id: task.id().into(),
                command: command.into_iter().map(Into::into).collect(),
                timeout: Some(duration(timeout)),
            }),
        )
        .await?;
        let res = r.result.ok_or_else(|| {
            HarnessError::Protocol(
                "ExecTask returned no result: Nomad's client dereferences it and panics".into(),
            )
        })?;
        Ok(ExecOutput {
            stdout: r.stdout,
            stderr: r.stderr,
            exit_code: res.exit_code,
        })
    }

    /// `ExecTaskStreaming` (`nomad alloc exec`): one session, run to its end.
    pub async fn exec_streaming(
        &self,
        task: &Task,
        session: &ExecSession,
    ) -> Result<ExecOutput, HarnessError> {
        let mut client = self.client()?;
        let s = exec_session(&mut client, task.id(), session, self.patience).await?;
        match (s.exit, s.end) {
            (Some(exit_code), _) => Ok(ExecOutput {
                stdout: s.stdout,
                stderr: s.stderr,
                exit_code,
            }),
            (None, Some(status)) => Err(HarnessError::rpc("ExecTaskStreaming", &status)),
            (None, None) => Err(HarnessError::Protocol(
                "ExecTaskStreaming ended without a final message with exited = true: `nomad alloc exec` reports no exit code".into(),
            )),
        }
    }

    /// Opens a `TaskStats` stream at `interval`.
    pub async fn stats(
        &self,
        task: &Task,
        interval: Duration,
    ) -> Result<StatsStream, HarnessError> {
        let mut client = self.client()?;
        let req = pb::TaskStatsRequest {
            task_id: task.id().into(),
            collection_interval: Some(duration(interval)),
        };
        let stream = call(self.patience, "TaskStats", client.task_stats(req)).await?;
        Ok(StatsStream {
            stream,
            patience: self.patience,
        })
    }

    /// `RecoverTask` with the handle Nomad persisted from `StartTask`, as
    /// the client does for every task after a plugin or agent restart.
    pub async fn recover(&self, task: &Task) -> Result<(), HarnessError> {
        call(
            self.patience,
            "RecoverTask",
            self.client()?.recover_task(pb::RecoverTaskRequest {
                task_id: task.id().into(),
                handle: Some(task.handle.clone()),
            }),
        )
        .await
        .map(|_| ())
    }

    /// Kills the plugin with SIGKILL (a crash or an OOM kill) and waits
    /// until the process has exited. Tasks are left as the plugin left
    /// them; calls in flight fail; [`DriverHarness::relaunch`] starts a new
    /// instance. Takes `&self` so it can be called while other calls are
    /// in flight.
    pub async fn kill_plugin(&self) -> Result<(), HarnessError> {
        let instance = self
            .instance
            .as_ref()
            .ok_or(HarnessError::NotConnected("it was already killed"))?;
        let pid = instance
            .plugin
            .pid()
            .ok_or(HarnessError::NotConnected("its process has exited"))?;
        instance
            .plugin
            .signal(libc::SIGKILL)
            .map_err(|e| HarnessError::Launch(crate::launch::LaunchError::Kill(e)))?;
        let pid = i32::try_from(pid).map_err(|e| HarnessError::Protocol(e.to_string()))?;
        if !super::tasks::wait_gone(vec![pid], self.patience)
            .await
            .is_empty()
        {
            return Err(HarnessError::Timeout {
                what: "the plugin's exit after SIGKILL".into(),
                after: self.patience,
            });
        }
        Ok(())
    }

    /// Launches a new instance as the client does when a driver plugin has
    /// died: `SetConfig` with the same agent config, `Init`, the streams.
    /// Stops the current instance first if there is one. Follow with
    /// [`DriverHarness::recover`] for each task, as Nomad does.
    pub async fn relaunch(&mut self) -> Result<(), HarnessError> {
        if let Some(old) = self.instance.take() {
            let _ = old.plugin.kill().await;
        }
        let instance = Instance::launch(
            self.launcher.clone(),
            self.plugin_config.clone(),
            &self.info.api_version,
            self.patience,
        )
        .await
        .map_err(|message| HarnessError::Startup {
            step: "base.instance".into(),
            message,
        })?;
        self.instance = Some(instance);
        Ok(())
    }

    /// Simulates the agent dying and coming back while the plugin lives
    /// on: every connection of the harness to the plugin is dropped
    /// without stopping it, then the harness reattaches by the persisted
    /// address and pid ([`DriverHarness::reattach_config`]) without
    /// configuring it again, and reopens the fingerprint and event streams.
    /// Follow with [`DriverHarness::recover`] for each task, as the
    /// restarted client does.
    ///
    /// The plugin's stdout and stderr pipes stay open here (the test
    /// process lives on), where a real agent's death closes them.
    pub async fn restart_agent(&mut self) -> Result<(), HarnessError> {
        let instance = self
            .instance
            .take()
            .ok_or(HarnessError::NotConnected("it was killed"))?;
        match instance.reattach().await {
            Ok(i) => {
                self.instance = Some(i);
                Ok(())
            }
            Err((plugin, message)) => {
                let _ = plugin.kill().await;
                Err(HarnessError::Protocol(message))
            }
        }
    }

    /// Stops the plugin as Nomad does (`Shutdown`, SIGKILL after 2 s).
    /// Fails if it needed the SIGKILL.
    pub async fn shutdown(mut self) -> Result<(), HarnessError> {
        let Some(instance) = self.instance.take() else {
            return Ok(());
        };
        let report = instance.plugin.kill().await?;
        if !report.graceful {
            return Err(HarnessError::Protocol(format!(
                "the plugin did not exit within 2 s of Shutdown and was killed ({}): Nomad logs an error at every agent stop",
                report.status
            )));
        }
        Ok(())
    }
}

impl Drop for DriverHarness {
    fn drop(&mut self) {
        // The instance's process is killed on drop (kill_on_drop); the
        // tasks were cleaned up by their own drops.
        self.instance.take();
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

/// The alloc dir, log FIFOs and `TaskConfig` of one task, as the client
/// prepares them for a driver with these capabilities.
pub(crate) fn fixture_in(
    work_dir: &Path,
    caps: &pb::DriverCapabilities,
    name: &str,
    msgpack_config: Vec<u8>,
) -> std::io::Result<TaskFixture> {
    use pb::driver_capabilities::FsIsolation as P;
    TaskFixture::new(TaskSpec {
        work_dir,
        task_name: name,
        msgpack_config,
        fs_isolation: P::try_from(caps.fs_isolation).unwrap_or(P::None),
    })
}

/// `StartTask` for a prepared fixture: the raw answer, refused as the Go
/// client refuses a RETRY or FATAL result.
pub(crate) async fn start_raw(
    client: &mut DriverClient<Channel>,
    fixture: &TaskFixture,
    patience: Duration,
) -> Result<pb::StartTaskResponse, HarnessError> {
    let resp = call(
        patience,
        "StartTask",
        client.start_task(pb::StartTaskRequest {
            task: Some(fixture.config.clone()),
        }),
    )
    .await?;
    use pb::start_task_response::Result as R;
    match R::try_from(resp.result) {
        Ok(R::Success) => Ok(resp),
        Ok(R::Retry) => Err(HarnessError::Protocol(format!(
            "StartTask answered RETRY ({:?}): Nomad fails the task and retries it by its restart policy",
            resp.driver_error_msg
        ))),
        _ => Err(HarnessError::Protocol(format!(
            "StartTask answered FATAL ({:?}): Nomad fails the task",
            resp.driver_error_msg
        ))),
    }
}

fn duration(d: Duration) -> nomad_plugin_proto::prost_types::Duration {
    nomad_plugin_proto::prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

/// A task to start; see [`DriverHarness::task`].
#[derive(Debug)]
pub struct TaskBuilder<'a> {
    harness: &'a DriverHarness,
    name: String,
    hcl: String,
    env: Vec<(String, String)>,
}

impl TaskBuilder<'_> {
    /// The body of the task's `config { ... }` block, decoded with the
    /// plugin's `TaskConfigSchema` as the Nomad client does.
    pub fn config_hcl(mut self, hcl: impl Into<String>) -> Self {
        self.hcl = hcl.into();
        self
    }

    /// An entry of the task's `env { ... }` block (added to the `NOMAD_*`
    /// environment the client builds).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Builds the alloc dir (`alloc/{data,logs,tmp}`,
    /// `<task>/{local,secrets,private,tmp}`), the log FIFOs and their
    /// reader, and calls `StartTask`.
    pub async fn start(self) -> Result<Task, HarnessError> {
        let h = self.harness;
        let spec = h.task_spec.as_ref().ok_or_else(|| {
            HarnessError::Protocol("the plugin gave no usable TaskConfigSchema".into())
        })?;
        let msgpack = crate::hcl::encode_config(&self.hcl, spec).map_err(|diagnostics| {
            HarnessError::Config {
                what: format!("the config of task {:?}", self.name),
                diagnostics,
            }
        })?;
        let mut fixture = h
            .fixture(&self.name, msgpack)
            .map_err(HarnessError::Setup)?;
        fixture.config.env.extend(self.env);
        let resp = h.start_fixture(&fixture).await?;
        let handle = DriverHarness::require_handle(resp)?;
        Ok(Task {
            fixture,
            handle,
            patience: h.patience,
        })
    }
}

/// A task the harness started: its alloc dir, its logs as logmon read
/// them, and the handle Nomad persisted. Dropping it kills whatever of the
/// task still runs and removes the alloc dir.
pub struct Task {
    fixture: TaskFixture,
    handle: pb::TaskHandle,
    patience: Duration,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("alloc_dir", &self.alloc_dir())
            .finish_non_exhaustive()
    }
}

impl Task {
    /// The task id (`<alloc id>/<task>/<8 hex>`, as Nomad builds it).
    pub fn id(&self) -> &str {
        &self.fixture.config.id
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.fixture.config.name
    }

    /// The allocation id (a UUID).
    pub fn alloc_id(&self) -> &str {
        &self.fixture.config.alloc_id
    }

    /// The allocation directory on the host.
    pub fn alloc_dir(&self) -> &Path {
        &self.fixture.alloc_dir
    }

    /// The task's own directory (`<alloc dir>/<task>`: `local`, `secrets`, ...).
    pub fn task_dir(&self) -> PathBuf {
        self.fixture.alloc_dir.join(self.name())
    }

    /// The environment the client gave the task.
    pub fn env(&self) -> &HashMap<String, String> {
        &self.fixture.config.env
    }

    /// The driver state in the handle Nomad persisted.
    pub fn driver_state(&self) -> &[u8] {
        &self.handle.driver_state
    }

    /// Everything the task wrote on stdout so far.
    pub fn stdout(&self) -> String {
        self.fixture.stdout.text()
    }

    /// Everything the task wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.fixture.stderr.text()
    }

    /// Waits until the task's stdout contains `needle`.
    pub async fn wait_for_stdout(&self, needle: &str) -> Result<(), HarnessError> {
        if self.fixture.stdout.wait_for(needle, self.patience).await {
            return Ok(());
        }
        Err(HarnessError::Timeout {
            what: format!(
                "{needle:?} on the task's stdout ({})",
                self.fixture.output()
            ),
            after: self.patience,
        })
    }

    /// Waits until the task's stderr contains `needle`.
    pub async fn wait_for_stderr(&self, needle: &str) -> Result<(), HarnessError> {
        if self.fixture.stderr.wait_for(needle, self.patience).await {
            return Ok(());
        }
        Err(HarnessError::Timeout {
            what: format!(
                "{needle:?} on the task's stderr ({})",
                self.fixture.output()
            ),
            after: self.patience,
        })
    }

    /// Reads a file the task wrote, by its path inside the alloc dir
    /// (`alloc/data/out.txt`, `web/local/config`).
    pub fn read_file(&self, path: impl AsRef<Path>) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.fixture.alloc_dir.join(path))
    }

    /// Pids of the task's live processes (every process whose environment
    /// carries this allocation's `NOMAD_ALLOC_ID`).
    pub fn processes(&self) -> Vec<i32> {
        fixture::alloc_processes(self.alloc_id())
    }
}

/// A `TaskStats` stream; see [`DriverHarness::stats`].
pub struct StatsStream {
    stream: tonic::Streaming<pb::TaskStatsResponse>,
    patience: Duration,
}

impl std::fmt::Debug for StatsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsStream").finish_non_exhaustive()
    }
}

impl StatsStream {
    /// The next message; an error if the stream ends, fails or is silent
    /// for longer than the harness's patience.
    pub async fn next(&mut self) -> Result<TaskStats, HarnessError> {
        match tokio::time::timeout(self.patience, self.stream.message()).await {
            Err(_) => Err(HarnessError::Timeout {
                what: "the next TaskStats message".into(),
                after: self.patience,
            }),
            Ok(Err(s)) => Err(HarnessError::rpc("TaskStats", &s)),
            Ok(Ok(None)) => Err(HarnessError::Protocol(
                "the TaskStats stream ended: Nomad shows no resource usage for the task".into(),
            )),
            Ok(Ok(Some(m))) => {
                let Some(stats) = &m.stats else {
                    return Err(HarnessError::Protocol(
                        "a TaskStats message without stats: Nomad's client dereferences it and the agent crashes".into(),
                    ));
                };
                if stats.agg_resource_usage.is_none() {
                    return Err(HarnessError::Protocol(
                        "TaskStats sent stats without agg_resource_usage: Nomad's client panics"
                            .into(),
                    ));
                }
                Ok(TaskStats::from(&m))
            }
        }
    }
}

/// What one streaming exec session produced, raw: the suite judges it.
#[derive(Default)]
pub(crate) struct RawSession {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: Option<i32>,
    pub end: Option<tonic::Status>,
}

/// Runs one `ExecTaskStreaming` session the way the Nomad CLI and client
/// drive it: setup, terminal sizes, a heartbeat (an empty message, as the
/// CLI sends every 10 s), stdin (sent even when empty; an empty message is
/// not an EOF) and, without a terminal, a close of stdin.
pub(crate) async fn exec_session(
    client: &mut DriverClient<Channel>,
    task_id: &str,
    session: &ExecSession,
    patience: Duration,
) -> Result<RawSession, HarnessError> {
    let (tx, rx) = mpsc::unbounded::<pb::ExecTaskStreamingRequest>();
    use pb::exec_task_streaming_request::{Setup, TerminalSize};
    let mut input = vec![pb::ExecTaskStreamingRequest {
        setup: Some(Setup {
            task_id: task_id.into(),
            command: session.command.clone(),
            tty: session.tty,
        }),
        ..Default::default()
    }];
    let sizes = if session.tty && session.sizes.is_empty() {
        vec![(24, 80)]
    } else {
        session.sizes.clone()
    };
    for (height, width) in sizes {
        input.push(pb::ExecTaskStreamingRequest {
            tty_size: Some(TerminalSize { height, width }),
            ..Default::default()
        });
    }
    input.push(pb::ExecTaskStreamingRequest::default());
    input.push(pb::ExecTaskStreamingRequest {
        stdin: Some(pb::ExecTaskStreamingIoOperation {
            data: session.stdin.clone(),
            close: false,
        }),
        ..Default::default()
    });
    if !session.tty {
        input.push(pb::ExecTaskStreamingRequest {
            stdin: Some(pb::ExecTaskStreamingIoOperation {
                data: Vec::new(),
                close: true,
            }),
            ..Default::default()
        });
    }
    for m in input {
        tx.unbounded_send(m).map_err(|e| {
            HarnessError::Protocol(format!("the harness could not queue exec input: {e}"))
        })?;
    }
    // `tx` stays alive until the session ends, like the client's side.
    let run = async {
        let mut out = RawSession::default();
        let mut stream = client
            .exec_task_streaming(rx)
            .await
            .map_err(|s| HarnessError::rpc("ExecTaskStreaming", &s))?
            .into_inner();
        loop {
            match stream.message().await {
                Ok(Some(m)) => {
                    if let Some(o) = m.stdout {
                        out.stdout.extend_from_slice(&o.data);
                    }
                    if let Some(e) = m.stderr {
                        out.stderr.extend_from_slice(&e.data);
                    }
                    if m.exited {
                        if let Some(r) = m.result {
                            out.exit = Some(r.exit_code);
                        }
                    }
                }
                Ok(None) => return Ok(out),
                Err(s) => {
                    out.end = Some(s);
                    return Ok(out);
                }
            }
        }
    };
    let result = tokio::time::timeout(patience, run).await;
    drop(tx);
    result.map_err(|_| HarnessError::Timeout {
        what: "the exec session (`nomad alloc exec` hangs)".into(),
        after: patience,
    })?
}

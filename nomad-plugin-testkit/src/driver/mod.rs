//! The task driver conformance suite: runs a driver plugin binary the way
//! a Nomad client does and reports, check by check, what Nomad would have
//! done with its answers.
//!
//! ```no_run
//! # async fn demo() {
//! use nomad_plugin_testkit::driver::DriverSuite;
//!
//! let report = DriverSuite::new("target/debug/my-driver")
//!     .plugin_config_hcl("")
//!     // The suite hands over a POSIX shell script; say how your driver
//!     // runs one (this is the default, for drivers with command/args).
//!     .task_config_hcl(|script| {
//!         format!(
//!             "command = \"/bin/sh\"\nargs = [\"-c\", {}]\n",
//!             nomad_plugin_testkit::driver::hcl_string(script)
//!         )
//!     })
//!     .run()
//!     .await;
//! report.assert_passed();
//! # }
//! ```
//!
//! The suite is the Nomad client: it launches the plugin three times as the
//! agent does at start-up, builds each `TaskConfig` like the client's task
//! runner (an `<alloc>/<task>/<8 hex>` id, the allocation directory with
//! `alloc/{data,logs,tmp}` and `<task>/{local,secrets,private,tmp}`, the
//! `NOMAD_*` environment, resources), creates the stdout/stderr FIFOs and
//! reads them as logmon would, and encodes the task's `config {}` HCL with
//! the plugin's own `TaskConfigSchema` into go-cty msgpack.
//!
//! Checks are grouped ([`GROUPS`]); each check's name starts with its
//! group. Checks that need a capability the plugin does not claim
//! (`send_signals`, `exec`) are skipped. Every task process a check
//! started is killed when the check ends (found by its `NOMAD_ALLOC_ID`),
//! whatever the driver did.
//!
//! The driver must be able to run a POSIX shell script in its task
//! (through [`DriverSuite::task_config_hcl`]) with `sh`, `sleep`, `echo`,
//! `head` and `stty` available, and pass the task's environment to it.
#![cfg(target_os = "linux")]

mod base;
mod exec;
mod fixture;
mod harness;
pub(crate) mod instance;
mod negative;
mod plain;
mod reattach;
mod recover;
mod tasks;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::{
    driver_capabilities::FsIsolation as PbFsIsolation, CapabilitiesRequest, DestroyTaskRequest,
    DriverCapabilities, InspectTaskRequest, InspectTaskResponse, StartTaskResponse,
    TaskConfigSchemaRequest, TaskState as PbTaskState,
};
use nomad_plugin_sdk::config::schema::Spec;
use tonic::transport::Channel;

pub use self::base::DRIVER_API_VERSION;
use self::base::{BaseOutcome, ConfigSource};
pub use self::fixture::hcl_string;
use self::fixture::TaskFixture;
pub use self::harness::{
    Attribute, Capabilities, CpuStats, DriverHarness, DriverHarnessBuilder, ExecOutput,
    ExecSession, ExitResult, Fingerprint, FsIsolation, HarnessError, Health, MemoryStats,
    PluginInfo, ReattachConfig, StatsStream, Task, TaskBuilder, TaskEvent, TaskState, TaskStats,
    TaskStatus,
};
use crate::launch::Launcher;
use crate::report::Progress;
pub use crate::report::{Check, CheckStatus, SuiteReport};

/// The check groups, in the order they run. Pass some of them to
/// [`DriverSuite::only`] to run a subset; `base`, `fingerprint`,
/// `capabilities` and `task_config_schema` always run, since everything
/// else depends on them.
pub const GROUPS: &[&str] = &[
    "base",
    "fingerprint",
    "capabilities",
    "task_config_schema",
    "lifecycle",
    "stop",
    "destroy",
    "stats",
    "events",
    "signal",
    "exec",
    "exec_streaming",
    "unknown_task",
    "malformed_config",
    "recover",
    "reattach",
];

type TaskHcl = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// The driver conformance suite for one plugin binary.
#[derive(Clone)]
pub struct DriverSuite {
    binary: PathBuf,
    plugin_config: String,
    task_hcl: TaskHcl,
    env: Vec<(OsString, OsString)>,
    args: Vec<OsString>,
    work_dir: Option<PathBuf>,
    patience: Duration,
    only: Option<Vec<String>>,
    progress: Option<Progress>,
    attach: Option<(crate::launch::Endpoint, u32)>,
}

impl std::fmt::Debug for DriverSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverSuite")
            .field("binary", &self.binary)
            .field("plugin_config", &self.plugin_config)
            .field("env", &self.env)
            .field("args", &self.args)
            .field("work_dir", &self.work_dir)
            .field("patience", &self.patience)
            .field("only", &self.only)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

fn default_task_hcl(script: &str) -> String {
    format!(
        "command = \"/bin/sh\"\nargs = [\"-c\", {}]\n",
        hcl_string(script)
    )
}

impl DriverSuite {
    /// A suite for the plugin at `binary`, with an empty plugin config and
    /// the default task config (`command = "/bin/sh"`, `args = ["-c", script]`).
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        DriverSuite {
            binary: binary.into(),
            plugin_config: String::new(),
            task_hcl: Arc::new(default_task_hcl),
            env: Vec::new(),
            args: Vec::new(),
            work_dir: None,
            patience: Duration::from_secs(30),
            only: None,
            progress: None,
            attach: None,
        }
    }

    /// Runs the suite against a plugin started by hand in attach mode
    /// (`NOMAD_PLUGIN_ATTACH=1`) at `endpoint`, process `pid`, instead of
    /// launching `binary`: every "launch" connects to it, every "stop"
    /// only disconnects, and the `recover` group (which SIGKILLs the
    /// plugin) is skipped.
    pub fn attach(mut self, endpoint: crate::launch::Endpoint, pid: u32) -> Self {
        self.attach = Some((endpoint, pid));
        self
    }

    /// Tells `progress` about each check as soon as it is recorded (the
    /// CLI prints them live).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The body of the agent's `plugin "<name>" { config { ... } }` block,
    /// decoded with the plugin's `ConfigSchema` as Nomad does.
    pub fn plugin_config_hcl(mut self, body: impl Into<String>) -> Self {
        self.plugin_config = body.into();
        self
    }

    /// How to run a shell script with this driver: given a POSIX `sh`
    /// script, return the body of the task's `config { ... }` block. It is
    /// decoded with the plugin's `TaskConfigSchema` and sent as
    /// `msgpack_driver_config`. Use [`hcl_string`] to quote the script.
    pub fn task_config_hcl(mut self, f: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.task_hcl = Arc::new(f);
        self
    }

    /// Sets an environment variable for every launch of the plugin.
    pub fn plugin_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds a command-line argument for every launch of the plugin.
    pub fn plugin_arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Where allocation directories are created (default: the system's
    /// temporary directory). Each run uses, and removes, its own
    /// subdirectory.
    pub fn work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = Some(dir.into());
        self
    }

    /// The longest the suite waits for any one thing (an RPC answer, task
    /// output, a stream message); default 30 s. Nothing waits this long
    /// when the plugin behaves.
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// Runs only these groups (see [`GROUPS`]) besides the ones that
    /// always run.
    pub fn only<S: Into<String>>(mut self, groups: impl IntoIterator<Item = S>) -> Self {
        self.only = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// Runs the suite. Never panics on the plugin's behalf: everything the
    /// plugin does wrong is a failed check in the report.
    pub async fn run(self) -> SuiteReport {
        let mut report = SuiteReport::new("driver", self.binary.display().to_string())
            .with_progress(self.progress.clone());
        let base_dir = self.work_dir.clone().unwrap_or_else(std::env::temp_dir);
        let work_dir = base_dir.join(format!(
            "nomad-testkit-driver-{}-{:08x}",
            std::process::id(),
            fixture::random_u64() as u32
        ));
        if let Err(e) = std::fs::create_dir_all(&work_dir) {
            report.record(
                "base.work_dir",
                Err(format!("cannot create {}: {e}", work_dir.display())),
            );
            return report;
        }
        let mut ctx = Ctx {
            patience: self.patience,
            suite: self,
            work_dir: work_dir.clone(),
            report,
            outcome: None,
            task_spec: None,
            caps: DriverCapabilities::default(),
            main: None,
        };
        ctx.run().await;
        if let Some(mut main) = ctx.main.take() {
            if let Some(i) = main.take_instance() {
                let _ = i.plugin.kill().await;
            }
        }
        let _ = std::fs::remove_dir_all(&work_dir);
        ctx.report
    }
}

/// State shared by the checks of one run.
pub(crate) struct Ctx {
    pub suite: DriverSuite,
    pub patience: Duration,
    pub work_dir: PathBuf,
    pub report: SuiteReport,
    /// What the start-up launches found out (API version, encoded config).
    pub outcome: Option<BaseOutcome>,
    pub task_spec: Option<Spec>,
    pub caps: DriverCapabilities,
    /// The real instance, held through the public harness.
    pub main: Option<DriverHarness>,
}

impl Ctx {
    pub(crate) fn launcher(&self) -> Launcher {
        let mut l = Launcher::nomad(&self.suite.binary).null_stdin();
        for a in &self.suite.args {
            l = l.arg(a.clone());
        }
        for (k, v) in &self.suite.env {
            l = l.env(k.clone(), v.clone());
        }
        if let Some((endpoint, pid)) = &self.suite.attach {
            l = l.attach_to(endpoint.clone(), *pid);
        }
        l
    }

    pub(crate) fn wants(&self, group: &str) -> bool {
        self.suite
            .only
            .as_ref()
            .is_none_or(|only| only.iter().any(|g| g == group))
    }

    /// A driver client for the main instance.
    pub(crate) fn client(&self) -> Option<DriverClient<Channel>> {
        self.main.as_ref().and_then(|m| m.client().ok())
    }

    /// A new real instance (launch #3) held by a harness, with what the
    /// suite learnt of the plugin so far.
    pub(crate) async fn launch_instance(&self) -> Result<DriverHarness, String> {
        let Some(outcome) = self.outcome.clone() else {
            return Err("the start-up sequence did not complete".into());
        };
        let mut h = DriverHarness::from_outcome(
            self.launcher(),
            outcome,
            self.patience,
            Some(&self.work_dir),
        )
        .await
        .map_err(|e| match e {
            HarnessError::Startup { message, .. } => message,
            other => other.to_string(),
        })?;
        h.set_capabilities(self.caps.clone());
        if let Some(spec) = &self.task_spec {
            h.set_task_spec(spec.clone());
        }
        Ok(h)
    }

    /// Kills the main instance if it stopped serving and launches a new
    /// one (as Nomad would), so the remaining checks still say something.
    /// False if no instance could be launched.
    pub(crate) async fn relaunch_if_dead(&mut self) -> bool {
        let alive = match &self.main {
            Some(m) => m.serving().await.is_ok(),
            None => false,
        };
        if alive {
            return true;
        }
        let relaunched = match self.main.as_mut() {
            Some(m) => m.relaunch().await.map_err(|e| match e {
                HarnessError::Startup { message, .. } => message,
                other => other.to_string(),
            }),
            None => self.launch_instance().await.map(|h| {
                self.main = Some(h);
            }),
        };
        match relaunched {
            Ok(()) => true,
            Err(e) => {
                self.report.record("base.relaunch", Err(e));
                false
            }
        }
    }

    /// The task config for `script`, encoded as Nomad would.
    pub(crate) fn task_msgpack(&self, script: &str) -> Result<Vec<u8>, String> {
        let Some(spec) = &self.task_spec else {
            return Err("no usable TaskConfigSchema".into());
        };
        let hcl = (self.suite.task_hcl)(script);
        crate::hcl::encode_config(&hcl, spec).map_err(|e| {
            format!("the task config HCL does not decode with the plugin's TaskConfigSchema, so Nomad rejects the job: {e}\n{hcl}")
        })
    }

    pub(crate) fn fixture(&self, task: &str, script: &str) -> Result<TaskFixture, String> {
        let msgpack_config = self.task_msgpack(script)?;
        harness::fixture_in(&self.work_dir, &self.caps, task, msgpack_config)
            .map_err(|e| format!("the suite could not prepare the allocation directory: {e}"))
    }

    /// Prepares and starts a task running `script`.
    pub(crate) async fn start(
        &self,
        client: &mut DriverClient<Channel>,
        task: &str,
        script: &str,
    ) -> Result<(TaskFixture, StartTaskResponse), String> {
        let fixture = self.fixture(task, script)?;
        let resp = harness::start_raw(client, &fixture, self.patience)
            .await
            .map_err(|e| format!("{e}; {}", fixture.output()))?;
        Ok((fixture, resp))
    }

    /// Best-effort `DestroyTask(force)`, as the client does after every task.
    pub(crate) async fn destroy(&self, client: &mut DriverClient<Channel>, task_id: &str) {
        let req = DestroyTaskRequest {
            task_id: task_id.into(),
            force: true,
        };
        let _ = tokio::time::timeout(self.patience, client.destroy_task(req)).await;
    }

    async fn run(&mut self) {
        let launcher = self.launcher();
        let config = ConfigSource::Body(self.suite.plugin_config.clone());
        let report = &mut self.report;
        let mut record = |name: &str, result: Result<String, String>| report.record(name, result);
        let Some(outcome) = base::run(&launcher, &config, self.patience, &mut record).await else {
            return;
        };
        if !outcome.validated {
            self.report.skip(
                "base.set_config_twice",
                "the plugin has no config schema, so Nomad skips the validation launch",
            );
        }
        self.outcome = Some(outcome);
        match self.launch_instance().await {
            Ok(i) => {
                self.report.record(
                    "base.instance",
                    Ok("SetConfig with agent config and Init accepted".into()),
                );
                self.main = Some(i);
            }
            Err(e) => {
                self.report.record("base.instance", Err(e));
                return;
            }
        }
        tasks::fingerprint(self).await;
        if !self.capabilities().await || !self.schema().await {
            return;
        }
        type Group = for<'a> fn(
            &'a mut Ctx,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = ()> + Send + 'a>,
        >;
        let groups: [(&str, Group); 10] = [
            ("lifecycle", |c| Box::pin(tasks::lifecycle(c))),
            ("stop", |c| Box::pin(tasks::stop(c))),
            ("destroy", |c| Box::pin(tasks::destroy(c))),
            ("stats", |c| Box::pin(tasks::stats(c))),
            ("signal", |c| Box::pin(tasks::signal(c))),
            ("exec", |c| Box::pin(exec::exec(c))),
            ("exec_streaming", |c| Box::pin(exec::streaming(c))),
            ("unknown_task", |c| Box::pin(negative::unknown_task(c))),
            ("malformed_config", |c| {
                Box::pin(negative::malformed_config(c))
            }),
            ("events", |c| Box::pin(tasks::events(c))),
        ];
        for (name, group) in groups {
            if !self.wants(name) {
                continue;
            }
            group(self).await;
            // A check that crashed the plugin has been reported; relaunch it
            // (as Nomad would) so the remaining groups still say something.
            if !self.relaunch_if_dead().await {
                return;
            }
        }
        tasks::fingerprint_still_open(self).await;
        if let Some(mut main) = self.main.take() {
            if let Some(i) = main.take_instance() {
                let _ = i.plugin.kill().await;
            }
        }
        if self.wants("recover") {
            if self.suite.attach.is_some() {
                for check in [
                    "recover.setup",
                    "recover.task_survives_plugin_death",
                    "recover.recover_task",
                ] {
                    self.report.skip(
                        check,
                        "attached to a plugin started by hand: the suite does not SIGKILL it",
                    );
                }
            } else {
                recover::recover(self).await;
            }
        }
        if self.wants("reattach") {
            reattach::reattach(self).await;
        }
    }

    async fn capabilities(&mut self) -> bool {
        let Some(mut client) = self.client() else {
            return false;
        };
        let first = rpc(
            self.patience,
            "Capabilities",
            client.capabilities(CapabilitiesRequest {}),
        )
        .await;
        let second = rpc(
            self.patience,
            "Capabilities",
            client.capabilities(CapabilitiesRequest {}),
        )
        .await;
        let result = match (first, second) {
            (Err(e), _) | (_, Err(e)) => Err(format!(
                "{e}: Nomad calls Capabilities before every task start and fails the task"
            )),
            (Ok(a), Ok(b)) if a != b => Err(format!(
                "Capabilities changed between two calls ({} then {}): Nomad calls it repeatedly (task start, network setup, exec ACL checks) and expects the same answer",
                caps_text(a.capabilities.as_ref()),
                caps_text(b.capabilities.as_ref())
            )),
            (Ok(a), Ok(_)) => {
                let caps = a.capabilities.unwrap_or_default();
                if let Some(main) = self.main.as_mut() {
                    main.set_capabilities(caps.clone());
                }
                self.caps = caps;
                describe_caps(&self.caps)
            }
        };
        self.report.record("capabilities.stable", result)
    }

    async fn schema(&mut self) -> bool {
        let Some(mut client) = self.client() else {
            return false;
        };
        let result = match rpc(
            self.patience,
            "TaskConfigSchema",
            client.task_config_schema(TaskConfigSchemaRequest {}),
        )
        .await
        {
            Err(e) => Err(format!("{e}: no task can start on this driver")),
            Ok(r) => match r.spec {
                None => Err(
                    "TaskConfigSchema returned no spec: Nomad fails every task with \"nil spec given\""
                        .into(),
                ),
                Some(pb) => match nomad_plugin_sdk::host::schema::from_proto(&pb) {
                    Err(e) => Err(format!(
                        "TaskConfigSchema returned a spec Nomad cannot use ({e}): every task fails"
                    )),
                    Ok(spec) => {
                        if let Some(main) = self.main.as_mut() {
                            main.set_task_spec(spec.clone());
                        }
                        self.task_spec = Some(spec);
                        self.task_msgpack("exit 0").map(|b| {
                            format!("schema usable; the suite's task config encodes to {} bytes", b.len())
                        })
                    }
                },
            },
        };
        self.report.record("task_config_schema.present", result)
    }
}

fn describe_caps(c: &DriverCapabilities) -> Result<String, String> {
    let fs = PbFsIsolation::try_from(c.fs_isolation)
        .map(|f| f.as_str_name().to_string())
        .unwrap_or_else(|_| format!("unknown ({}), which Nomad treats as NONE", c.fs_isolation));
    Ok(format!(
        "send_signals={} exec={} fs_isolation={fs} must_create_network={} disable_log_collection={}",
        c.send_signals, c.exec, c.must_create_network, c.disable_log_collection
    ))
}

fn caps_text(c: Option<&DriverCapabilities>) -> String {
    match c {
        None => "no capabilities".into(),
        Some(c) => describe_caps(c).unwrap_or_else(|e| e),
    }
}

/// Calls an RPC with the suite's patience; errors in words.
pub(crate) async fn rpc<T>(
    patience: Duration,
    what: &str,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, String> {
    match tokio::time::timeout(patience, call).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(format!("{what} failed ({:?}: {})", s.code(), s.message())),
        Err(_) => Err(format!("{what} did not answer within {patience:?}")),
    }
}

/// Polls `InspectTask` every 100 ms until the task is RUNNING, as Nomad's
/// driver harness (`WaitUntilStarted`) does.
pub(crate) async fn wait_running(
    client: &mut DriverClient<Channel>,
    task_id: &str,
    patience: Duration,
) -> Result<InspectTaskResponse, String> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let req = InspectTaskRequest {
            task_id: task_id.into(),
        };
        let r = rpc(patience, "InspectTask", client.inspect_task(req)).await?;
        if r.task.as_ref().map(|t| t.state) == Some(PbTaskState::Running as i32) {
            return Ok(r);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "InspectTask did not report RUNNING within {patience:?} (last answer: {}); Nomad's driver harness gives up on the task",
                plain::status(&r)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks an `InspectTask` answer against what the Go client requires;
/// every problem is listed.
pub(crate) fn inspect_rules(r: &InspectTaskResponse) -> Result<(), String> {
    let Some(t) = &r.task else {
        return Err("InspectTask returned no `task`: Nomad's client returns an error".into());
    };
    let mut problems = Vec::new();
    if t.started_at.is_none() {
        problems.push("no `started_at`: Nomad's client rejects the answer (nil timestamp)");
    }
    if t.completed_at.is_none() {
        problems.push("no `completed_at`: Nomad's client rejects the answer (nil timestamp); send Go's zero time (seconds -62135596800) while the task runs");
    }
    if t.result.is_none() {
        problems.push("no `result`: Nomad's client dereferences it and panics");
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("InspectTask returned {}", problems.join("; ")))
    }
}

//! What a driver answers, as plain Rust values: the harness turns every
//! protobuf message into one of these, so a test never sees the wire types.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nomad_plugin_proto::nomad::drivers as pb;
use nomad_plugin_proto::nomad::structs::{attribute, Attribute as PbAttribute};
pub use nomad_plugin_sdk::attribute::{Attribute, Unit};

/// What the plugin said about itself at launch (`PluginInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginInfo {
    /// The driver's name (`driver = "<name>"` in a job).
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// The driver API version Nomad picked from the plugin's list.
    pub api_version: String,
}

/// How a driver isolates a task's filesystem (`Capabilities.fs_isolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsIsolation {
    /// The task sees the host's filesystem; paths are host paths.
    None,
    /// The task runs in a chroot built from the alloc dir.
    Chroot,
    /// The task runs in its own image (a container).
    Image,
    /// The task sees only unveiled paths.
    Unveil,
    /// A value Nomad does not know; it treats it as `None`.
    Unknown(i32),
}

impl From<i32> for FsIsolation {
    fn from(v: i32) -> Self {
        use pb::driver_capabilities::FsIsolation as P;
        match P::try_from(v) {
            Ok(P::None) => FsIsolation::None,
            Ok(P::Chroot) => FsIsolation::Chroot,
            Ok(P::Image) => FsIsolation::Image,
            Ok(P::Unveil) => FsIsolation::Unveil,
            Err(_) => FsIsolation::Unknown(v),
        }
    }
}

/// What the driver can do (`Capabilities`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `SignalTask` works (`nomad alloc signal`, template `change_signal`).
    pub send_signals: bool,
    /// `ExecTask` and `ExecTaskStreaming` work (`nomad alloc exec`, script checks).
    pub exec: bool,
    /// How the task's filesystem is isolated.
    pub fs_isolation: FsIsolation,
    /// The driver creates the network namespace itself.
    pub must_create_network: bool,
    /// Nomad should not collect the task's logs.
    pub disable_log_collection: bool,
}

impl From<&pb::DriverCapabilities> for Capabilities {
    fn from(c: &pb::DriverCapabilities) -> Self {
        Capabilities {
            send_signals: c.send_signals,
            exec: c.exec,
            fs_isolation: FsIsolation::from(c.fs_isolation),
            must_create_network: c.must_create_network,
            disable_log_collection: c.disable_log_collection,
        }
    }
}

/// A driver's health as its fingerprint reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// The driver is not usable on this node (not installed).
    Undetected,
    /// The driver is installed but cannot run tasks now.
    Unhealthy,
    /// The scheduler may place tasks for this driver on the node.
    Healthy,
}

/// Reads an attribute as Nomad's client does (`structs.Attribute`): a unit
/// only on numbers, and only one Nomad knows.
pub(crate) fn attribute(a: &PbAttribute) -> Result<Attribute, String> {
    let unit = if a.unit.is_empty() {
        None
    } else {
        Some(a.unit.parse::<Unit>().map_err(|e| e.to_string())?)
    };
    match (&a.value, unit) {
        (None, _) => Err("no value set".into()),
        (Some(attribute::Value::IntVal(value)), unit) => Ok(Attribute::Int {
            value: *value,
            unit,
        }),
        (Some(attribute::Value::FloatVal(value)), unit) => Ok(Attribute::Float {
            value: *value,
            unit,
        }),
        (Some(attribute::Value::StringVal(_) | attribute::Value::BoolVal(_)), Some(_)) => {
            Err("a unit on a string or boolean".into())
        }
        (Some(attribute::Value::StringVal(s)), None) => Ok(Attribute::String(s.clone())),
        (Some(attribute::Value::BoolVal(b)), None) => Ok(Attribute::Bool(*b)),
    }
}

/// One message of the driver's fingerprint stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Fingerprint {
    /// The driver's health.
    pub health: Health,
    /// Why, in the driver's words (shown in `nomad node status`).
    pub health_description: String,
    /// Node attributes the driver sets (`driver.<name>.<key>`).
    pub attributes: BTreeMap<String, Attribute>,
    /// Attributes Nomad cannot read, with the reason.
    pub invalid_attributes: BTreeMap<String, String>,
    /// The fingerprint's error, if the driver sent one.
    pub error: Option<String>,
}

impl From<&pb::FingerprintResponse> for Fingerprint {
    fn from(f: &pb::FingerprintResponse) -> Self {
        use pb::fingerprint_response::HealthState;
        let mut attributes = BTreeMap::new();
        let mut invalid_attributes = BTreeMap::new();
        for (k, v) in &f.attributes {
            match attribute(v) {
                Ok(a) => {
                    attributes.insert(k.clone(), a);
                }
                Err(why) => {
                    invalid_attributes.insert(k.clone(), why);
                }
            }
        }
        Fingerprint {
            health: match HealthState::try_from(f.health) {
                Ok(HealthState::Healthy) => Health::Healthy,
                Ok(HealthState::Unhealthy) => Health::Unhealthy,
                _ => Health::Undetected,
            },
            health_description: f.health_description.clone(),
            attributes,
            invalid_attributes,
            error: (!f.err.is_empty()).then(|| f.err.clone()),
        }
    }
}

/// How a task ended (`WaitTask`, `InspectTask`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExitResult {
    /// The exit code (`128 + n` for a signal when the driver says so).
    pub exit_code: i32,
    /// The signal that ended the task, 0 for none.
    pub signal: i32,
    /// The task was killed for using more memory than allowed.
    pub oom_killed: bool,
    /// The driver's error for this wait, if any (`WaitTaskResponse.err`).
    pub error: Option<String>,
}

impl ExitResult {
    pub(crate) fn from_pb(r: &pb::ExitResult, err: &str) -> Self {
        ExitResult {
            exit_code: r.exit_code,
            signal: r.signal,
            oom_killed: r.oom_killed,
            error: (!err.is_empty()).then(|| err.to_string()),
        }
    }

    /// Whether the task ended successfully (exit code 0, no signal, no OOM kill).
    pub fn successful(&self) -> bool {
        self.exit_code == 0 && self.signal == 0 && !self.oom_killed
    }
}

impl fmt::Display for ExitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit code {}", self.exit_code)?;
        if self.signal != 0 {
            write!(f, ", signal {}", self.signal)?;
        }
        if self.oom_killed {
            f.write_str(", OOM killed")?;
        }
        if let Some(e) = &self.error {
            write!(f, ", error: {e}")?;
        }
        Ok(())
    }
}

/// A task's state as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// The driver does not say.
    Unknown,
    /// The task runs.
    Running,
    /// The task has exited.
    Exited,
}

impl From<i32> for TaskState {
    fn from(v: i32) -> Self {
        match pb::TaskState::try_from(v) {
            Ok(pb::TaskState::Running) => TaskState::Running,
            Ok(pb::TaskState::Exited) => TaskState::Exited,
            _ => TaskState::Unknown,
        }
    }
}

/// What `InspectTask` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskStatus {
    /// The task id.
    pub id: String,
    /// The task name.
    pub name: String,
    /// Running or exited.
    pub state: TaskState,
    /// When the task started (`None` if the driver sent none, or Go's zero time).
    pub started_at: Option<SystemTime>,
    /// When it exited (`None` while it runs).
    pub completed_at: Option<SystemTime>,
    /// How it exited, once it has.
    pub exit: Option<ExitResult>,
    /// The driver's own attributes for the task (`InspectTask.driver.attributes`).
    pub driver_attributes: BTreeMap<String, String>,
}

impl From<&pb::InspectTaskResponse> for TaskStatus {
    fn from(r: &pb::InspectTaskResponse) -> Self {
        let t = r.task.clone().unwrap_or_default();
        let state = TaskState::from(t.state);
        TaskStatus {
            id: t.id,
            name: t.name,
            state,
            started_at: t.started_at.as_ref().and_then(time),
            completed_at: t.completed_at.as_ref().and_then(time),
            exit: match (state, &t.result) {
                (TaskState::Exited, Some(res)) => Some(ExitResult::from_pb(res, "")),
                _ => None,
            },
            driver_attributes: r
                .driver
                .as_ref()
                .map(|d| d.attributes.clone().into_iter().collect())
                .unwrap_or_default(),
        }
    }
}

/// A protobuf timestamp as a time; Go's zero time (year 1) and earlier are `None`.
pub(crate) fn time(t: &nomad_plugin_proto::prost_types::Timestamp) -> Option<SystemTime> {
    if t.seconds < 0 || !(0..1_000_000_000).contains(&t.nanos) {
        return None;
    }
    Some(UNIX_EPOCH + Duration::new(t.seconds as u64, t.nanos as u32))
}

/// CPU use of a task, as much as the driver measured.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CpuStats {
    /// Percent of one core.
    pub percent: f64,
    /// Time in kernel mode (percent).
    pub system_mode: f64,
    /// Time in user mode (percent).
    pub user_mode: f64,
    /// CPU ticks used (MHz-equivalent, Nomad's CPU unit).
    pub total_ticks: f64,
    /// Periods in which the task was throttled.
    pub throttled_periods: u64,
    /// Time the task was throttled (nanoseconds).
    pub throttled_time: u64,
}

/// Memory use of a task in bytes, as much as the driver measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryStats {
    /// Resident set size.
    pub rss: u64,
    /// Page cache.
    pub cache: u64,
    /// Swap.
    pub swap: u64,
    /// Usage as the cgroup counts it.
    pub usage: u64,
    /// Peak usage.
    pub max_usage: u64,
}

/// One message of a `TaskStats` stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskStats {
    /// When the driver measured.
    pub timestamp: Option<SystemTime>,
    /// CPU use of the whole task (`None` if the driver sent none).
    pub cpu: Option<CpuStats>,
    /// Memory use of the whole task (`None` if the driver sent none).
    pub memory: Option<MemoryStats>,
    /// Processes the driver reported individually.
    pub pids: usize,
}

impl From<&pb::TaskStatsResponse> for TaskStats {
    fn from(r: &pb::TaskStatsResponse) -> Self {
        let s = r.stats.clone().unwrap_or_default();
        let agg = s.agg_resource_usage.unwrap_or_default();
        TaskStats {
            timestamp: s.timestamp.as_ref().and_then(time),
            cpu: agg.cpu.map(|c| CpuStats {
                percent: c.percent,
                system_mode: c.system_mode,
                user_mode: c.user_mode,
                total_ticks: c.total_ticks,
                throttled_periods: c.throttled_periods,
                throttled_time: c.throttled_time,
            }),
            memory: agg.memory.map(|m| MemoryStats {
                rss: m.rss,
                cache: m.cache,
                swap: m.swap,
                usage: m.usage,
                max_usage: m.max_usage,
            }),
            pids: s.resource_usage_by_pid.len(),
        }
    }
}

/// One message of the driver's `TaskEvents` stream (shown in `nomad alloc status`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskEvent {
    /// The task it is about.
    pub task_id: String,
    /// The task's allocation.
    pub alloc_id: String,
    /// The task's name.
    pub task_name: String,
    /// When it happened.
    pub timestamp: Option<SystemTime>,
    /// What happened, in the driver's words.
    pub message: String,
    /// Extra details.
    pub annotations: BTreeMap<String, String>,
}

impl From<&pb::DriverTaskEvent> for TaskEvent {
    fn from(e: &pb::DriverTaskEvent) -> Self {
        TaskEvent {
            task_id: e.task_id.clone(),
            alloc_id: e.alloc_id.clone(),
            task_name: e.task_name.clone(),
            timestamp: e.timestamp.as_ref().and_then(time),
            message: e.message.clone(),
            annotations: e.annotations.clone().into_iter().collect(),
        }
    }
}

/// What a command run with [`super::DriverHarness::exec`] or
/// [`super::DriverHarness::exec_streaming`] produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecOutput {
    /// Everything it wrote on stdout (with a tty: stdout and stderr merged).
    pub stdout: Vec<u8>,
    /// Everything it wrote on stderr (empty with a tty).
    pub stderr: Vec<u8>,
    /// Its exit code.
    pub exit_code: i32,
}

impl ExecOutput {
    /// Stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A `nomad alloc exec` session: the command, whether it gets a terminal,
/// what is typed into it, and the terminal sizes sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSession {
    pub(crate) command: Vec<String>,
    pub(crate) tty: bool,
    pub(crate) stdin: Vec<u8>,
    pub(crate) sizes: Vec<(i32, i32)>,
}

impl ExecSession {
    /// A session running `command` (argv) without a terminal and with
    /// empty stdin, closed at once.
    pub fn new<S: Into<String>>(command: impl IntoIterator<Item = S>) -> Self {
        ExecSession {
            command: command.into_iter().map(Into::into).collect(),
            tty: false,
            stdin: Vec::new(),
            sizes: Vec::new(),
        }
    }

    /// Runs it under a terminal (`nomad alloc exec -t`), sized 80x24
    /// unless [`ExecSession::resize`] says otherwise. Stdin is never closed
    /// with a terminal, as the CLI does not close it.
    pub fn tty(mut self) -> Self {
        self.tty = true;
        self
    }

    /// Bytes typed into the session.
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = data.into();
        self
    }

    /// A terminal resize (height, width), sent in order before stdin.
    pub fn resize(mut self, height: i32, width: i32) -> Self {
        self.sizes.push((height, width));
        self
    }
}

//! The values a driver works with, in Rust terms rather than protobuf.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use nomad_plugin_proto::nomad::drivers as pb;

use crate::attribute::Attribute;

/// Everything Nomad tells a driver about a task to start, with the task's
/// `config { ... }` block decoded into the driver's own type `C`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Task<C> {
    /// Unique id of this start attempt: `<alloc id>/<task name>/<8 hex>`.
    pub id: String,
    /// The task's name in the job.
    pub name: String,
    /// The decoded task `config` block.
    pub config: C,
    /// Everything else about the task.
    pub task: TaskInfo,
}

/// The parts of a task's configuration that do not depend on the driver.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The allocation id.
    pub alloc_id: String,
    /// The job's name.
    pub job_name: String,
    /// The job's id.
    pub job_id: String,
    /// The task group's name.
    pub task_group: String,
    /// The job's namespace.
    pub namespace: String,
    /// The client node's name.
    pub node_name: String,
    /// The client node's id.
    pub node_id: String,
    /// The task's full environment (including `NOMAD_*`).
    pub env: BTreeMap<String, String>,
    /// The part of `env` set by device plugins.
    pub device_env: BTreeMap<String, String>,
    /// The user to run as (empty: the driver's default).
    pub user: String,
    /// The allocation directory on the host; the task's own directory is
    /// `alloc_dir/<task name>`.
    pub alloc_dir: PathBuf,
    /// Where to write the task's stdout: a FIFO Nomad's log collector
    /// reads (or `/dev/null`).
    pub stdout_path: PathBuf,
    /// Where to write the task's stderr.
    pub stderr_path: PathBuf,
    /// CPU, memory and ports granted to the task.
    pub resources: Resources,
    /// Volumes to mount into the task.
    pub mounts: Vec<Mount>,
    /// Device nodes to expose to the task.
    pub devices: Vec<DeviceMount>,
    /// DNS settings, when the job sets them.
    pub dns: Option<DnsConfig>,
    /// The group's network namespace, when it has one.
    pub network: Option<NetworkIsolation>,
}

impl TaskInfo {
    /// The task's own directory, `alloc_dir/<task name>`.
    pub fn task_dir(&self, task_name: &str) -> PathBuf {
        self.alloc_dir.join(task_name)
    }
}

/// Resources granted to a task.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Resources {
    /// CPU shares (MHz).
    pub cpu_shares: i64,
    /// Memory reservation in MiB.
    pub memory_mb: i64,
    /// Memory limit in MiB when oversubscription is on (0 otherwise).
    pub memory_max_mb: i64,
    /// The memory limit Nomad computed, in bytes.
    pub memory_limit_bytes: i64,
    /// Reserved cores (`0,1`), when the task reserves cores.
    pub cpuset_cpus: String,
    /// The cgroup Nomad manages for the task, when it has one.
    pub cpuset_cgroup: String,
    /// The task's share of the node's CPU (its `cpu` over the node's total
    /// compute), as Nomad computes it; `LinuxResources.PercentTicks` on the
    /// wire. Drivers with a `cpu_hard_limit` option turn it into a CFS
    /// quota: `percent_ticks × period × cores`.
    pub percent_ticks: f64,
    /// `LinuxResources.cpu_shares`: the relative CPU weight Nomad computed
    /// (today the same as [`cpu_shares`](Self::cpu_shares)).
    pub linux_cpu_shares: i64,
    /// CFS period in microseconds (`LinuxResources.cpu_period`; the Nomad
    /// client leaves it 0).
    pub cpu_period: i64,
    /// CFS quota in microseconds (`LinuxResources.cpu_quota`; the Nomad
    /// client leaves it 0).
    pub cpu_quota: i64,
    /// OOM score adjustment (`LinuxResources.oom_score_adj`; the Nomad
    /// client leaves it 0).
    pub oom_score_adj: i64,
    /// Networks allocated to the task (`AllocatedTaskResources.networks`).
    pub networks: Vec<NetworkResource>,
    /// Port mappings of the allocation.
    pub ports: Vec<PortMapping>,
}

impl Resources {
    /// The memory limit a driver enforces, in bytes: `memory_max` when the
    /// job sets one (memory oversubscription), else `memory`. This is what
    /// Nomad's own drivers use as the hard limit.
    pub fn memory_hard_limit_bytes(&self) -> u64 {
        let mb = if self.memory_max_mb > 0 {
            self.memory_max_mb
        } else {
            self.memory_mb
        };
        (mb.max(0) as u64) * 1024 * 1024
    }

    /// The soft memory limit (reservation) in bytes, set only with memory
    /// oversubscription: the task's `memory`, while `memory_max` is the hard
    /// limit.
    pub fn memory_soft_limit_bytes(&self) -> Option<u64> {
        (self.memory_max_mb > 0 && self.memory_mb > 0).then(|| self.memory_mb as u64 * 1024 * 1024)
    }
}

/// A network allocated to a task (`AllocatedTaskResources.networks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkResource {
    /// Host network device name.
    pub device: String,
    /// CIDR block of the network.
    pub cidr: String,
    /// IP address assigned.
    pub ip: String,
    /// Bandwidth in Mbit/s.
    pub mbits: i32,
    /// Statically chosen ports.
    pub reserved_ports: Vec<NetworkPort>,
    /// Ports picked by the scheduler.
    pub dynamic_ports: Vec<NetworkPort>,
}

/// A port of a [`NetworkResource`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPort {
    /// The port's label in the job.
    pub label: String,
    /// The port number.
    pub value: i32,
}

/// A port of the allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortMapping {
    /// The port's label in the job.
    pub label: String,
    /// The host port.
    pub value: i32,
    /// The port inside the task's network, when mapped.
    pub to: i32,
    /// The host IP it is bound to.
    pub host_ip: String,
}

/// A volume mount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mount {
    /// Path inside the task.
    pub task_path: String,
    /// Path on the host.
    pub host_path: String,
    /// Mount read-only.
    pub readonly: bool,
    /// Propagation mode (`private`, `host-to-task`, `bidirectional`).
    pub propagation_mode: String,
}

/// A device node to expose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceMount {
    /// Path inside the task.
    pub task_path: String,
    /// Path on the host.
    pub host_path: String,
    /// cgroup permissions (`rwm`).
    pub permissions: String,
}

/// DNS settings for the task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsConfig {
    /// Name servers.
    pub servers: Vec<String>,
    /// Search domains.
    pub searches: Vec<String>,
    /// resolv.conf options.
    pub options: Vec<String>,
}

/// How a task's network is isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// The host's network.
    Host,
    /// A namespace shared by the task group.
    Group,
    /// A namespace of the task's own.
    Task,
    /// No network.
    None,
}

/// A network namespace for a task or group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkIsolation {
    /// Isolation mode.
    pub mode: NetworkMode,
    /// Path of the namespace (`/var/run/netns/<alloc>`).
    pub path: String,
    /// Labels the driver attached when it created the namespace.
    pub labels: BTreeMap<String, String>,
    /// Hostname and address inside the namespace.
    pub hosts: Option<(String, String)>,
}

impl NetworkIsolation {
    /// A namespace in `mode` at `path` (`/var/run/netns/<alloc>`).
    pub fn new(mode: NetworkMode, path: impl Into<String>) -> Self {
        NetworkIsolation {
            mode,
            path: path.into(),
            labels: BTreeMap::new(),
            hosts: None,
        }
    }

    /// Adds a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Sets the hostname and address inside the namespace.
    pub fn hosts(mut self, hostname: impl Into<String>, address: impl Into<String>) -> Self {
        self.hosts = Some((hostname.into(), address.into()));
        self
    }
}

/// How a task ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExitResult {
    /// Exit code (by Go drivers' convention `128 + signal` when killed).
    pub exit_code: i32,
    /// The signal that killed it, 0 if none.
    pub signal: i32,
    /// Killed by the out-of-memory killer.
    pub oom_killed: bool,
    /// An error that ended the task, if the driver lost it rather than
    /// seeing it exit.
    pub err: Option<String>,
}

impl ExitResult {
    /// A normal exit with `code`.
    pub fn code(code: i32) -> Self {
        ExitResult {
            exit_code: code,
            ..Default::default()
        }
    }

    /// Death by `signal` (exit code `128 + signal`, as Go drivers report).
    pub fn signaled(signal: i32) -> Self {
        ExitResult {
            exit_code: 128 + signal,
            signal,
            ..Default::default()
        }
    }

    /// A task the driver lost rather than saw exit (it vanished in a
    /// restart, its runtime failed): Nomad shows `message` and treats the
    /// exit as a failure.
    pub fn error(message: impl Into<String>) -> Self {
        ExitResult {
            err: Some(message.into()),
            ..Default::default()
        }
    }

    /// Marks the exit as caused by the out-of-memory killer (`OOM Killed`
    /// in `nomad alloc status`).
    pub fn oom_killed(mut self, oom_killed: bool) -> Self {
        self.oom_killed = oom_killed;
        self
    }

    /// Whether Nomad counts it as a success: code 0, no signal, no error.
    pub fn successful(&self) -> bool {
        self.exit_code == 0 && self.signal == 0 && self.err.is_none()
    }

    pub(crate) fn to_proto(&self) -> pb::ExitResult {
        pb::ExitResult {
            exit_code: self.exit_code,
            signal: self.signal,
            oom_killed: self.oom_killed,
        }
    }
}

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Not known.
    Unknown,
    /// Running.
    Running,
    /// Exited.
    Exited,
}

/// What `InspectTask` reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskStatus {
    /// Running or exited.
    pub state: TaskState,
    /// When it started.
    pub started_at: Option<SystemTime>,
    /// When it exited.
    pub completed_at: Option<SystemTime>,
    /// How it exited, once it has.
    pub exit: Option<ExitResult>,
    /// Driver-specific details shown by `nomad alloc status`.
    pub attributes: BTreeMap<String, String>,
}

impl TaskStatus {
    /// A status in `state` with no times, no exit and no attributes; add
    /// them with the methods below.
    pub fn new(state: TaskState) -> Self {
        TaskStatus {
            state,
            started_at: None,
            completed_at: None,
            exit: None,
            attributes: BTreeMap::new(),
        }
    }

    /// Sets when the task started.
    pub fn started_at(mut self, at: impl Into<Option<SystemTime>>) -> Self {
        self.started_at = at.into();
        self
    }

    /// Sets when the task exited.
    pub fn completed_at(mut self, at: impl Into<Option<SystemTime>>) -> Self {
        self.completed_at = at.into();
        self
    }

    /// Sets how the task exited.
    pub fn exit(mut self, exit: impl Into<Option<ExitResult>>) -> Self {
        self.exit = exit.into();
        self
    }

    /// Adds a driver-specific detail.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }
}

/// A task's resource usage at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TaskResourceUsage {
    /// CPU usage.
    pub cpu: CpuUsage,
    /// Memory usage.
    pub memory: MemoryUsage,
    /// Usage per process id, when the driver measures it.
    pub by_pid: BTreeMap<String, (CpuUsage, MemoryUsage)>,
}

/// CPU usage; `None` fields were not measured.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CpuUsage {
    /// Percent of time in kernel mode.
    pub system_mode: Option<f64>,
    /// Percent of time in user mode.
    pub user_mode: Option<f64>,
    /// CPU consumed in MHz-ticks as Nomad counts them.
    pub total_ticks: Option<f64>,
    /// Periods in which the task was throttled.
    pub throttled_periods: Option<u64>,
    /// Time throttled (ns).
    pub throttled_time: Option<u64>,
    /// Percent of one core used.
    pub percent: Option<f64>,
}

/// Memory usage in bytes; `None` fields were not measured.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MemoryUsage {
    /// Resident set size.
    pub rss: Option<u64>,
    /// Page cache.
    pub cache: Option<u64>,
    /// Swap.
    pub swap: Option<u64>,
    /// Total usage.
    pub usage: Option<u64>,
    /// Peak usage.
    pub max_usage: Option<u64>,
    /// Kernel memory.
    pub kernel_usage: Option<u64>,
    /// Peak kernel memory.
    pub kernel_max_usage: Option<u64>,
}

/// A driver's fs isolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsIsolation {
    /// Tasks see the host's filesystem.
    #[default]
    None,
    /// Nomad builds a chroot in the task directory.
    Chroot,
    /// The driver runs an image (container paths, no host env).
    Image,
    /// Landlock-style path restrictions.
    Unveil,
}

/// What the driver supports, as Nomad's `Capabilities` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `SignalTask` works.
    pub send_signals: bool,
    /// `ExecTask` and `ExecTaskStreaming` work.
    pub exec: bool,
    /// Filesystem isolation.
    pub fs_isolation: FsIsolation,
    /// Network modes the driver can run tasks in; empty means host only.
    pub network_isolation_modes: Vec<NetworkMode>,
    /// The driver creates group network namespaces itself.
    pub must_create_network: bool,
    /// Volume mounts are supported.
    pub mounts: bool,
    /// Nomad should not collect logs (do not open the FIFOs then).
    pub disable_log_collection: bool,
    /// The driver accepts users Nomad allocates dynamically.
    pub dynamic_workload_users: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            send_signals: false,
            exec: false,
            fs_isolation: FsIsolation::None,
            network_isolation_modes: vec![NetworkMode::Host],
            must_create_network: false,
            mounts: true,
            disable_log_collection: false,
            dynamic_workload_users: false,
        }
    }
}

impl Capabilities {
    /// `SignalTask` works.
    pub fn send_signals(mut self, on: bool) -> Self {
        self.send_signals = on;
        self
    }

    /// `ExecTask` and `ExecTaskStreaming` work.
    pub fn exec(mut self, on: bool) -> Self {
        self.exec = on;
        self
    }

    /// The filesystem isolation the driver gives tasks.
    pub fn fs_isolation(mut self, isolation: FsIsolation) -> Self {
        self.fs_isolation = isolation;
        self
    }

    /// The network modes the driver can run tasks in.
    pub fn network_isolation_modes(mut self, modes: impl IntoIterator<Item = NetworkMode>) -> Self {
        self.network_isolation_modes = modes.into_iter().collect();
        self
    }

    /// The driver creates group network namespaces itself.
    pub fn must_create_network(mut self, on: bool) -> Self {
        self.must_create_network = on;
        self
    }

    /// Volume mounts are supported (the default).
    pub fn mounts(mut self, on: bool) -> Self {
        self.mounts = on;
        self
    }

    /// Nomad should not collect the task's logs.
    pub fn disable_log_collection(mut self, on: bool) -> Self {
        self.disable_log_collection = on;
        self
    }

    /// The driver accepts users Nomad allocates dynamically.
    pub fn dynamic_workload_users(mut self, on: bool) -> Self {
        self.dynamic_workload_users = on;
        self
    }
}

/// The driver's health as fingerprinted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not usable on this node (e.g. its runtime is not installed): the
    /// driver is not registered.
    Undetected,
    /// Present but failing: jobs are not placed here.
    Unhealthy,
    /// Ready for tasks.
    Healthy,
}

/// One fingerprint of the driver.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Fingerprint {
    /// Health.
    pub health: Health,
    /// Why, in a few words (`Healthy`, `docker daemon not running`).
    pub description: String,
    /// Node attributes, keyed in full (`driver.mydriver.version`).
    pub attributes: BTreeMap<String, Attribute>,
}

impl Fingerprint {
    /// A healthy fingerprint with no attributes.
    pub fn healthy() -> Self {
        Fingerprint {
            health: Health::Healthy,
            description: "Healthy".into(),
            attributes: BTreeMap::new(),
        }
    }

    /// An unhealthy fingerprint with a reason.
    pub fn unhealthy(reason: impl Into<String>) -> Self {
        Fingerprint {
            health: Health::Unhealthy,
            description: reason.into(),
            attributes: BTreeMap::new(),
        }
    }

    /// Adds an attribute.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<Attribute>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }
}

/// A message about a task for its event log (`nomad alloc status`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskEvent {
    /// The task id.
    pub task_id: String,
    /// The allocation id (used by Nomad to route the event).
    pub alloc_id: String,
    /// The task name (used by Nomad to route the event).
    pub task_name: String,
    /// When it happened.
    pub timestamp: SystemTime,
    /// The message.
    pub message: String,
    /// Extra details.
    pub annotations: BTreeMap<String, String>,
}

impl TaskEvent {
    /// An event with `message` about the task `task_id` of allocation
    /// `alloc_id`, named `task_name`, stamped now.
    pub fn new(
        task_id: impl Into<String>,
        alloc_id: impl Into<String>,
        task_name: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        TaskEvent {
            task_id: task_id.into(),
            alloc_id: alloc_id.into(),
            task_name: task_name.into(),
            timestamp: SystemTime::now(),
            message: message.into(),
            annotations: BTreeMap::new(),
        }
    }

    /// Adds an annotation.
    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Sets when it happened (default: when it was made).
    pub fn timestamp(mut self, at: SystemTime) -> Self {
        self.timestamp = at;
        self
    }
}

/// What `start_task` returns: the state to persist, and optionally how the
/// task's network looks from outside.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StartedTask<S> {
    /// Driver state stored by Nomad and handed back to `recover_task`.
    /// Keep in it everything recovery needs: after an agent restart the
    /// task's driver config may be missing.
    pub state: S,
    /// Ports and address to advertise, when the driver maps ports.
    pub network: Option<NetworkOverride>,
}

impl<S> StartedTask<S> {
    /// A started task whose driver state is `state`.
    pub fn new(state: S) -> Self {
        StartedTask {
            state,
            network: None,
        }
    }

    /// Advertises the task at `network`.
    pub fn network(mut self, network: NetworkOverride) -> Self {
        self.network = Some(network);
        self
    }
}

/// Ports and address a driver exposes a task at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkOverride {
    /// Port label → port.
    pub port_map: BTreeMap<String, i32>,
    /// The address.
    pub addr: String,
    /// Advertise this address for services automatically.
    pub auto_advertise: bool,
}

impl NetworkOverride {
    /// The task is reachable at `addr`.
    pub fn new(addr: impl Into<String>) -> Self {
        NetworkOverride {
            addr: addr.into(),
            ..Default::default()
        }
    }

    /// Maps the port labelled `label` to `port`.
    pub fn port(mut self, label: impl Into<String>, port: i32) -> Self {
        self.port_map.insert(label.into(), port);
        self
    }

    /// Advertise the address for services automatically.
    pub fn auto_advertise(mut self, on: bool) -> Self {
        self.auto_advertise = on;
        self
    }
}

/// A task handed back by Nomad for re-attachment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecoveredTask<C, S> {
    /// The task id.
    pub id: String,
    /// The task name.
    pub name: String,
    /// The decoded task config, when Nomad still had it (after an agent
    /// restart it usually has not).
    pub config: Option<C>,
    /// The rest of the task's configuration as Nomad stored it.
    pub task: TaskInfo,
    /// The driver state returned by `start_task`.
    pub state: S,
}

/// Output of a one-shot command run in a task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecOutput {
    /// What it wrote on stdout.
    pub stdout: Vec<u8>,
    /// What it wrote on stderr.
    pub stderr: Vec<u8>,
    /// How it exited.
    pub exit: ExitResult,
}

impl ExecOutput {
    /// The output of a command that exited as `exit` and wrote `stdout` and
    /// `stderr`.
    pub fn new(stdout: impl Into<Vec<u8>>, stderr: impl Into<Vec<u8>>, exit: ExitResult) -> Self {
        ExecOutput {
            stdout: stdout.into(),
            stderr: stderr.into(),
            exit,
        }
    }
}

/// Converts a duration from the wire; negative or missing means zero.
pub(crate) fn duration(d: Option<&prost_types::Duration>) -> Duration {
    match d {
        Some(d) if d.seconds >= 0 && d.nanos >= 0 => {
            Duration::new(d.seconds as u64, d.nanos as u32)
        }
        _ => Duration::ZERO,
    }
}

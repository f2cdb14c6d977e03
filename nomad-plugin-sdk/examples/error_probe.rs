//! A plugin that fails every call with one chosen [`PluginError`], so a
//! host can see the status each kind of error becomes on the wire. The Go
//! interop host `interop/cmd/error-host` runs it once per kind through
//! go-plugin's client and reads the errors the way Nomad's plugin clients
//! do (`nomad-plugin-testkit/tests/interop_errors.rs`).
//!
//! `ERROR_PROBE_PLUGIN` picks the plugin kind (`driver`, the default, or
//! `device`); `ERROR_PROBE_KIND` the error (`invalid_config`,
//! `invalid_argument`, `not_found`, `already_exists`, `failed_precondition`,
//! `unimplemented`, `retryable`, `internal`).
//!
//! As a driver it fails `SetConfig`, `Init`, every task RPC and both
//! network RPCs, while its fingerprint stays healthy. The kind
//! `stats_then_gone` instead answers the first `TaskStats` call and fails
//! the later ones, as a driver does when a task exits while Nomad streams
//! its statistics. As a device plugin it
//! fingerprints one device, `probe0`, and fails `SetConfig` and `Reserve`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
use nomad_plugin_sdk::device::{
    self, ContainerReservation, Device, DeviceGroup, DeviceGroupStats, DeviceInstance,
};
use nomad_plugin_sdk::driver::{self, *};
use nomad_plugin_sdk::PluginError;

/// The task `config { }` block: one optional, unused attribute.
#[derive(serde::Deserialize, nomad_plugin_sdk::ConfigSchema)]
#[allow(dead_code)]
struct NoConfig {
    /// Ignored.
    note: Option<String>,
}

/// The error every call returns.
struct Probe {
    kind: String,
    stats_calls: AtomicUsize,
}

impl Probe {
    fn error(&self, rpc: &str) -> PluginError {
        let msg = format!("{rpc} failed on purpose ({})", self.kind);
        match self.kind.as_str() {
            "invalid_config" => PluginError::InvalidConfig(msg),
            "invalid_argument" => PluginError::InvalidArgument(msg),
            "not_found" => PluginError::NotFound(msg),
            "already_exists" => PluginError::AlreadyExists(msg),
            "failed_precondition" => PluginError::FailedPrecondition(msg),
            "unimplemented" => PluginError::Unimplemented(msg),
            "retryable" => PluginError::Retryable(msg),
            "stats_then_gone" => PluginError::NotFound(msg),
            _ => PluginError::Internal(msg),
        }
    }
}

#[nomad_plugin_sdk::async_trait]
impl BasePlugin for Probe {
    type Config = ();

    fn info(&self) -> PluginInfo {
        PluginInfo::new("error_probe", "0.1.0")
    }

    async fn set_config(&self, _config: (), _agent: AgentConfig) -> Result<(), PluginError> {
        Err(self.error("SetConfig"))
    }
}

#[nomad_plugin_sdk::async_trait]
impl Driver for Probe {
    type TaskConfig = NoConfig;
    type State = ();

    async fn init(&self) -> Result<(), PluginError> {
        Err(self.error("Init"))
    }

    async fn fingerprint(&self) -> Fingerprint {
        Fingerprint::healthy()
    }

    async fn start_task(&self, _task: Task<NoConfig>) -> Result<StartedTask<()>, PluginError> {
        Err(self.error("StartTask"))
    }

    async fn recover_task(&self, _task: RecoveredTask<NoConfig, ()>) -> Result<(), PluginError> {
        Err(self.error("RecoverTask"))
    }

    async fn wait_task(&self, _id: &str) -> Result<ExitResult, PluginError> {
        Err(self.error("WaitTask"))
    }

    async fn stop_task(&self, _id: &str, _t: Duration, _s: &str) -> Result<(), PluginError> {
        Err(self.error("StopTask"))
    }

    async fn destroy_task(&self, _id: &str, _force: bool) -> Result<(), PluginError> {
        Err(self.error("DestroyTask"))
    }

    async fn inspect_task(&self, _id: &str) -> Result<TaskStatus, PluginError> {
        Err(self.error("InspectTask"))
    }

    async fn task_stats(&self, _id: &str) -> Result<TaskResourceUsage, PluginError> {
        if self.kind == "stats_then_gone" && self.stats_calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Ok(TaskResourceUsage::default());
        }
        Err(self.error("TaskStats"))
    }

    async fn signal_task(&self, _id: &str, _signal: &str) -> Result<(), PluginError> {
        Err(self.error("SignalTask"))
    }

    async fn exec_task(
        &self,
        _id: &str,
        _command: Vec<String>,
        _timeout: Duration,
    ) -> Result<ExecOutput, PluginError> {
        Err(self.error("ExecTask"))
    }

    async fn exec_task_streaming(&self, _session: ExecSession) -> Result<ExitResult, PluginError> {
        Err(self.error("ExecTaskStreaming"))
    }

    async fn create_network(
        &self,
        _alloc_id: &str,
        _hostname: &str,
    ) -> Result<(NetworkIsolation, bool), PluginError> {
        Err(self.error("CreateNetwork"))
    }

    async fn destroy_network(
        &self,
        _alloc_id: &str,
        _network: NetworkIsolation,
    ) -> Result<(), PluginError> {
        Err(self.error("DestroyNetwork"))
    }

    async fn shutdown(&self) -> Result<(), PluginError> {
        Err(self.error("Shutdown"))
    }
}

#[nomad_plugin_sdk::async_trait]
impl Device for Probe {
    async fn fingerprint(&self) -> Result<Vec<DeviceGroup>, PluginError> {
        Ok(vec![
            DeviceGroup::new("probe", "test", "probe").device(DeviceInstance::new("probe0"))
        ])
    }

    async fn reserve(&self, _ids: &[String]) -> Result<ContainerReservation, PluginError> {
        Err(self.error("Reserve"))
    }

    async fn stats(&self) -> Result<Vec<DeviceGroupStats>, PluginError> {
        Ok(Vec::new())
    }
}

fn main() -> std::process::ExitCode {
    let probe = Probe {
        kind: std::env::var("ERROR_PROBE_KIND").unwrap_or_else(|_| "internal".into()),
        stats_calls: AtomicUsize::new(0),
    };
    if std::env::var("ERROR_PROBE_PLUGIN").as_deref() == Ok("device") {
        device::serve(probe)
    } else {
        driver::serve(probe)
    }
}

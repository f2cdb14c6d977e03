//! Task drivers: run Nomad tasks on a runtime of your own.
//!
//! Implement [`BasePlugin`] (who you are, your agent config) and [`Driver`]
//! (the task lifecycle), then call [`serve`] from `main`. The SDK speaks
//! Nomad's protocol and guarantees what Nomad's client relies on, whatever
//! the driver returns: the task handle always echoes the task config,
//! statistics always carry aggregate usage, inspect and exec results are
//! never missing, the fingerprint and event streams never end, and
//! retryable start failures reach Nomad as recoverable errors so the job's
//! restart policy applies.
//!
//! ```no_run
//! use nomad_plugin_sdk::base::{BasePlugin, PluginInfo};
//! use nomad_plugin_sdk::driver::{self, *};
//! use nomad_plugin_sdk::PluginError;
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! /// The task `config { }` block of `driver = "sleeper"`.
//! #[derive(Deserialize, nomad_plugin_sdk::ConfigSchema)]
//! struct SleepConfig {
//!     /// How long the task runs.
//!     #[nomad(required)]
//!     seconds: u64,
//! }
//!
//! /// What Nomad stores for us, to recover a task after a restart.
//! #[derive(Serialize, Deserialize)]
//! struct State {
//!     seconds: u64,
//! }
//!
//! #[derive(Default)]
//! struct Sleeper {
//!     tasks: TaskStore<ExitWatch>,
//! }
//!
//! #[nomad_plugin_sdk::async_trait]
//! impl BasePlugin for Sleeper {
//!     type Config = ();
//!     fn info(&self) -> PluginInfo {
//!         PluginInfo::new("sleeper", "0.1.0")
//!     }
//! }
//!
//! #[nomad_plugin_sdk::async_trait]
//! impl Driver for Sleeper {
//!     type TaskConfig = SleepConfig;
//!     type State = State;
//!
//!     async fn fingerprint(&self) -> Fingerprint {
//!         Fingerprint::healthy().attribute("driver.sleeper.version", "0.1.0")
//!     }
//!
//!     async fn start_task(&self, task: Task<SleepConfig>) -> Result<StartedTask<State>, PluginError> {
//!         let exit = self.tasks.insert(&task.id, ExitWatch::new());
//!         let seconds = task.config.seconds;
//!         tokio::spawn(async move {
//!             tokio::time::sleep(Duration::from_secs(seconds)).await;
//!             exit.exited(ExitResult::code(0));
//!         });
//!         Ok(StartedTask::new(State { seconds }))
//!     }
//!
//!     async fn recover_task(&self, task: RecoveredTask<SleepConfig, State>) -> Result<(), PluginError> {
//!         // A sleeper cannot survive its plugin: report it as lost.
//!         let exit = ExitWatch::new();
//!         exit.exited(ExitResult::error("lost in a restart"));
//!         self.tasks.insert(&task.id, exit);
//!         Ok(())
//!     }
//!
//!     async fn wait_task(&self, id: &str) -> Result<ExitResult, PluginError> {
//!         Ok(self.tasks.get(id)?.wait().await)
//!     }
//!
//!     async fn stop_task(&self, id: &str, _timeout: Duration, _signal: &str) -> Result<(), PluginError> {
//!         self.tasks.get(id)?.exited(ExitResult::signaled(15));
//!         Ok(())
//!     }
//!
//!     async fn destroy_task(&self, id: &str, _force: bool) -> Result<(), PluginError> {
//!         self.tasks.remove(id);
//!         Ok(())
//!     }
//!
//!     async fn inspect_task(&self, id: &str) -> Result<TaskStatus, PluginError> {
//!         let exit = self.tasks.get(id)?.result();
//!         let state = if exit.is_some() { TaskState::Exited } else { TaskState::Running };
//!         Ok(TaskStatus::new(state).exit(exit))
//!     }
//!
//!     async fn task_stats(&self, id: &str) -> Result<TaskResourceUsage, PluginError> {
//!         self.tasks.get(id)?;
//!         Ok(TaskResourceUsage::default())
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     driver::serve(Sleeper::default())
//! }
//! ```

mod events;
mod exec;
pub mod process;
mod service;
mod store;
#[cfg(test)]
mod tests;
mod types;
mod wire;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::service::Routes;

pub use crate::attribute::{Attribute, Unit, UnitBase, UnknownUnit};
pub use events::EventBus;
pub use exec::{ExecInput, ExecOutputSink, ExecSession, SessionClosed};
pub use store::{not_found, Claim, ExitWatch, TaskStore};
pub use types::*;

use crate::base::BasePlugin;
use crate::config::schema::ConfigSchema;
use crate::PluginError;

/// A task driver. Each method's documentation says when Nomad calls it and
/// what Nomad does with the answer. Methods with a default answer
/// `Unimplemented` (or do nothing) where Nomad tolerates it.
#[async_trait::async_trait]
pub trait Driver: BasePlugin {
    /// The task `config { ... }` block: a serde struct with
    /// `#[derive(ConfigSchema)]`. Nomad decodes every task's block with its
    /// schema and refuses jobs that do not match.
    type TaskConfig: ConfigSchema + DeserializeOwned + Send + Sync + 'static;

    /// What Nomad persists for each task and hands back to
    /// [`Driver::recover_task`]: enough to find the task again after the
    /// plugin or the agent restarted (a pid and its start time, a container
    /// id). Stored as JSON.
    type State: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Called by Nomad 2.0.4 and later after `SetConfig` on the instance the
    /// driver manager keeps, and **again, without a new `SetConfig`, every
    /// time an agent that restarted reattaches to this running process**:
    /// it may run more than once in one process, so make it idempotent
    /// (keep what it set up, and the configuration from the first
    /// `SetConfig`). Older agents never call it.
    ///
    /// [`PluginError::Unimplemented`] is ignored. Any other error kills the
    /// plugin and fails the dispense; at agent start that is the driver
    /// manager's first dispense, after which it gives up on this driver
    /// until the agent restarts (the driver never fingerprints, so it gets
    /// no tasks). Reserve errors for a driver that cannot work at all.
    async fn init(&self) -> Result<(), PluginError> {
        Ok(())
    }

    /// What the driver supports. Nomad asks often (every task start, exec
    /// checks); keep it cheap and constant.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// The driver's health and node attributes. The SDK calls it as soon as
    /// Nomad opens the fingerprint stream and then every
    /// [`Driver::fingerprint_interval`], and sends each result; the stream
    /// never ends while the plugin runs. Only `Healthy` drivers get tasks.
    async fn fingerprint(&self) -> Fingerprint;

    /// How often to fingerprint again (default 30 s).
    fn fingerprint_interval(&self) -> Duration {
        Duration::from_secs(30)
    }

    /// Starts a task. Return quickly once it runs; Nomad then calls
    /// [`Driver::wait_task`]. Return [`PluginError::Retryable`] for a
    /// temporary failure: it reaches Nomad as a recoverable error and the
    /// job's restart policy retries the task. Any other error fails the
    /// task without a restart.
    async fn start_task(
        &self,
        task: Task<Self::TaskConfig>,
    ) -> Result<StartedTask<Self::State>, PluginError>;

    /// Re-attaches to a task after the plugin (or the agent) restarted, from
    /// the state `start_task` returned. Nomad calls it for every task it
    /// had after a plugin crash (a new process) and after an agent restart
    /// (often the same process, reattached). The SDK answers at once,
    /// without calling this method, for a task this process started or
    /// recovered and has not destroyed.
    ///
    /// `task.config` is `None` when the handle has no task config (after an
    /// agent restart, as the client's state store does not keep it) or when
    /// it no longer decodes with [`Driver::TaskConfig`] (a warning is
    /// logged): keep what recovery needs in [`Driver::State`]. On error
    /// Nomad destroys the task (`DestroyTask` with `force`) and the
    /// scheduler replaces it.
    async fn recover_task(
        &self,
        task: RecoveredTask<Self::TaskConfig, Self::State>,
    ) -> Result<(), PluginError>;

    /// Blocks until the task exits and returns how. Nomad calls it right
    /// after a start or recovery and may call it several times at once;
    /// after the exit it must keep answering immediately until the task is
    /// destroyed.
    async fn wait_task(&self, task_id: &str) -> Result<ExitResult, PluginError>;

    /// Stops a task: send `signal` (a name like `SIGTERM`; empty means the
    /// driver's default, `SIGINT` for Go drivers), wait up to `timeout`,
    /// then kill it. Stopping a task that already exited succeeds.
    async fn stop_task(
        &self,
        task_id: &str,
        timeout: Duration,
        signal: &str,
    ) -> Result<(), PluginError>;

    /// Forgets a task and frees what it used. Nomad calls it with
    /// `force = true` after every exit; with `force` a running task is
    /// killed first.
    async fn destroy_task(&self, task_id: &str, force: bool) -> Result<(), PluginError>;

    /// The task's state. The SDK fills in what Nomad's client needs when the
    /// driver leaves it out (zero timestamps, an empty result).
    async fn inspect_task(&self, task_id: &str) -> Result<TaskStatus, PluginError>;

    /// The task's resource usage now. The SDK calls it at the interval Nomad
    /// asks (1 s by default) while Nomad streams statistics. An error on
    /// the first call fails the stream with that error; a later error (the
    /// task exited) ends it cleanly, as Go drivers end it, so Nomad's
    /// client logs nothing (its stats hook opens the stream again while
    /// the task runs).
    async fn task_stats(&self, task_id: &str) -> Result<TaskResourceUsage, PluginError>;

    /// Where the driver publishes task events; `None` (the default) means
    /// it has none. The event stream stays open either way.
    fn events(&self) -> Option<&EventBus> {
        None
    }

    /// Sends a signal (a name like `SIGHUP`) to a task.
    async fn signal_task(&self, task_id: &str, signal: &str) -> Result<(), PluginError> {
        let _ = (task_id, signal);
        Err(PluginError::Unimplemented(
            "this driver does not support signals".into(),
        ))
    }

    /// Runs a command inside a task and returns its output (script checks,
    /// templates). Stop it after `timeout` when that is not zero.
    async fn exec_task(
        &self,
        task_id: &str,
        command: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecOutput, PluginError> {
        let _ = (task_id, command, timeout);
        Err(PluginError::Unimplemented(
            "this driver does not support exec".into(),
        ))
    }

    /// Runs an interactive command inside a task (`nomad alloc exec`):
    /// read [`ExecSession::input`], write to [`ExecSession::output`], and
    /// return the exit status when the command ends.
    async fn exec_task_streaming(&self, session: ExecSession) -> Result<ExitResult, PluginError> {
        let _ = session;
        Err(PluginError::Unimplemented(
            "this driver does not support exec".into(),
        ))
    }

    /// Creates the network namespace of an allocation; only called when
    /// [`Capabilities::must_create_network`] is set. Returns the namespace
    /// and whether it was newly created.
    async fn create_network(
        &self,
        alloc_id: &str,
        hostname: &str,
    ) -> Result<(NetworkIsolation, bool), PluginError> {
        let _ = (alloc_id, hostname);
        Err(PluginError::Unimplemented(
            "this driver does not create networks".into(),
        ))
    }

    /// Destroys a namespace made by [`Driver::create_network`].
    async fn destroy_network(
        &self,
        alloc_id: &str,
        network: NetworkIsolation,
    ) -> Result<(), PluginError> {
        let _ = (alloc_id, network);
        Err(PluginError::Unimplemented(
            "this driver does not create networks".into(),
        ))
    }

    /// Called once when the Nomad client shuts down (Nomad 2.0.4 and later),
    /// with two seconds to finish. Running tasks must keep running.
    async fn shutdown(&self) -> Result<(), PluginError> {
        Ok(())
    }
}

/// Serves `driver` to Nomad as a task driver: the one line of a driver's
/// `main`. Returns [`ExitCode::SUCCESS`] when Nomad stops the plugin, and
/// status 1 when it cannot serve (for example when run by hand, without
/// Nomad's cookie).
pub fn serve<D: Driver>(driver: D) -> ExitCode {
    let name = driver.info().name;
    let driver = Arc::new(driver);
    crate::runtime::run(crate::runtime::Handshake::NOMAD, &name, move || {
        routes(driver)
    })
}

/// The driver's gRPC services (`BasePlugin` announcing a driver, and
/// `Driver`), for embedding in a test with [`crate::runtime::serve`].
pub fn routes<D: Driver>(driver: Arc<D>) -> Routes {
    service::routes(driver)
}

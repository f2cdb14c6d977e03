//! An autoscaler plugin under test, loaded as the agent's plugin manager
//! loads it, with typed calls for a vendor's own tests.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use nomad_plugin_proto::autoscaler::apm as apm_pb;
use nomad_plugin_proto::autoscaler::apm::apm_plugin_service_client::ApmPluginServiceClient;
use nomad_plugin_proto::autoscaler::strategy::strategy_plugin_service_client::StrategyPluginServiceClient;
use nomad_plugin_proto::autoscaler::target as target_pb;
use nomad_plugin_proto::autoscaler::target::target_plugin_service_client::TargetPluginServiceClient;
use nomad_plugin_sdk::autoscaler::{
    ConfigMap, NomadConfig, ScalingAction, TargetStatus, TimeRange, TimestampedMetric,
};

use super::load::{self, Loaded};
use super::{call, show, AutoscalerSuite, PluginKind, StrategyCase};
use crate::launch::StderrLine;
use crate::report::SuiteReport;

/// Why an [`AutoscalerHarness`] call failed, in the agent's words.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AutoscalerHarnessError {
    /// Loading failed as the agent would fail it (launch, `PluginInfo`
    /// name or type, `SetConfig`); the step is named as in the suite.
    #[error("{step}: {message}")]
    Load {
        /// The suite's check name (`plugin_info.name`).
        step: String,
        /// What went wrong and what the agent does about it.
        message: String,
    },
    /// The plugin answered with an error status.
    #[error("{call} failed: {message}")]
    Rpc {
        /// The call.
        call: &'static str,
        /// The status as the agent's log shows it.
        message: String,
    },
    /// The plugin did not answer within the agent's patience.
    #[error("{0}")]
    Timeout(String),
    /// The plugin answered something the agent cannot use.
    #[error("{0}")]
    Protocol(String),
    /// The call belongs to another kind of plugin.
    #[error("this is a {loaded} plugin; {call} is a {wanted} call")]
    WrongKind {
        /// The call.
        call: &'static str,
        /// The kind that has the call.
        wanted: &'static str,
        /// The kind loaded.
        loaded: &'static str,
    },
}

/// Builds an [`AutoscalerHarness`]; the same settings as
/// [`AutoscalerSuite`] (config, agent `nomad_*` settings, driver name).
#[derive(Debug, Clone)]
pub struct AutoscalerHarnessBuilder {
    suite: AutoscalerSuite,
}

impl AutoscalerHarnessBuilder {
    /// Sets a key of the plugin block's `config`.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.suite = self.suite.config(key, value);
        self
    }

    /// The agent's `nomad { ... }` settings merged into the config.
    pub fn agent_nomad(mut self, nomad: NomadConfig) -> Self {
        self.suite = self.suite.agent_nomad(nomad);
        self
    }

    /// The block's `driver` (default: the binary's file name).
    pub fn driver(mut self, driver: impl Into<String>) -> Self {
        self.suite = self.suite.driver(driver);
        self
    }

    /// Adds a command-line argument (the block's `args`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.suite = self.suite.arg(arg);
        self
    }

    /// Loads the plugin as the agent does: launch with the autoscaler's
    /// handshake, `PluginInfo` (name and type must match the block),
    /// `SetConfig` with the merged config (and again, as a reload does).
    pub async fn launch(self) -> Result<AutoscalerHarness, AutoscalerHarnessError> {
        let mut report = SuiteReport::new("autoscaler harness", "");
        match load::load_checked(&self.suite, &mut report).await {
            Some(loaded) => Ok(AutoscalerHarness {
                loaded,
                kind: self.suite.kind,
                driver: self.suite.driver.clone(),
            }),
            None => {
                let failed = report.failures().next();
                Err(AutoscalerHarnessError::Load {
                    step: failed.map(|c| c.name.clone()).unwrap_or_default(),
                    message: failed
                        .map(|c| c.detail.clone())
                        .unwrap_or_else(|| "the agent would not load the plugin".into()),
                })
            }
        }
    }
}

/// A loaded, configured autoscaler plugin.
///
/// ```no_run
/// # async fn demo() -> Result<(), nomad_plugin_testkit::autoscaler::AutoscalerHarnessError> {
/// use std::time::Duration;
/// use nomad_plugin_testkit::autoscaler::AutoscalerHarness;
///
/// let apm = AutoscalerHarness::apm("target/debug/apm-procfs").launch().await?;
/// let points = apm.query("load_1", Duration::from_secs(60)).await?;
/// assert!(!points.is_empty());
/// apm.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct AutoscalerHarness {
    loaded: Loaded,
    kind: PluginKind,
    driver: String,
}

impl std::fmt::Debug for AutoscalerHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoscalerHarness")
            .field("kind", &self.kind)
            .field("driver", &self.driver)
            .finish_non_exhaustive()
    }
}

fn rpc<T>(
    what: &'static str,
    r: Result<Result<T, tonic::Status>, String>,
) -> Result<T, AutoscalerHarnessError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(s)) => Err(AutoscalerHarnessError::Rpc {
            call: what,
            message: show(&s),
        }),
        Err(hung) => Err(AutoscalerHarnessError::Timeout(hung)),
    }
}

impl AutoscalerHarness {
    /// A builder for an APM plugin at `binary`.
    pub fn apm(binary: impl Into<PathBuf>) -> AutoscalerHarnessBuilder {
        AutoscalerHarnessBuilder {
            suite: AutoscalerSuite::apm(binary),
        }
    }

    /// A builder for a strategy plugin at `binary`.
    pub fn strategy(binary: impl Into<PathBuf>) -> AutoscalerHarnessBuilder {
        AutoscalerHarnessBuilder {
            suite: AutoscalerSuite::strategy(binary),
        }
    }

    /// A builder for a target plugin at `binary`.
    pub fn target(binary: impl Into<PathBuf>) -> AutoscalerHarnessBuilder {
        AutoscalerHarnessBuilder {
            suite: AutoscalerSuite::target(binary),
        }
    }

    /// The plugin's stderr lines so far.
    pub fn plugin_logs(&self) -> Vec<StderrLine> {
        self.loaded.plugin.logs()
    }

    fn want(&self, kind: PluginKind, call: &'static str) -> Result<(), AutoscalerHarnessError> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(AutoscalerHarnessError::WrongKind {
                call,
                wanted: kind.name(),
                loaded: self.kind.name(),
            })
        }
    }

    /// APM `Query` over the agent's window `[now - window, now]`.
    pub async fn query(
        &self,
        query: &str,
        window: Duration,
    ) -> Result<Vec<TimestampedMetric>, AutoscalerHarnessError> {
        self.query_range(query, TimeRange::ending_at(SystemTime::now(), window))
            .await
    }

    /// APM `Query` over an explicit range.
    pub async fn query_range(
        &self,
        query: &str,
        range: TimeRange,
    ) -> Result<Vec<TimestampedMetric>, AutoscalerHarnessError> {
        self.want(PluginKind::Apm, "Query")?;
        let mut client = ApmPluginServiceClient::new(self.loaded.channel());
        let request = apm_pb::QueryRequest {
            query: query.into(),
            time_range: Some(nomad_plugin_sdk::host::autoscaler::range_to_wire(range)),
        };
        let resp = rpc("Query", call("Query", client.query(request)).await)?;
        Ok(nomad_plugin_sdk::host::autoscaler::metrics_from_wire(
            &resp.timestamped_metric,
        ))
    }

    /// Strategy `Run` for one case (current count, metrics one second
    /// apart ending now, the check's strategy config), as the agent calls it.
    pub async fn run_strategy(
        &self,
        case: &StrategyCase,
    ) -> Result<ScalingAction, AutoscalerHarnessError> {
        self.want(PluginKind::Strategy, "Run")?;
        let mut client = StrategyPluginServiceClient::new(self.loaded.channel());
        let request = super::strategy::request(case, &self.driver);
        let resp = rpc("Run", call("Run", client.run(request)).await)?;
        nomad_plugin_sdk::host::autoscaler::action_from_wire(resp.action.as_ref()).map_err(|e| {
            AutoscalerHarnessError::Protocol(format!("{e}: the agent fails the check"))
        })
    }

    /// Target `Status` with the policy's target config.
    pub async fn status(&self, config: &ConfigMap) -> Result<TargetStatus, AutoscalerHarnessError> {
        self.want(PluginKind::Target, "Status")?;
        let mut client = TargetPluginServiceClient::new(self.loaded.channel());
        let request = target_pb::StatusRequest {
            config: config.clone().into(),
        };
        let s = rpc("Status", call("Status", client.status(request)).await)?;
        let mut status = TargetStatus::ready(s.count);
        status.ready = s.ready;
        status.meta = s.meta;
        Ok(status)
    }

    /// Target `Scale` with an action and the policy's target config.
    pub async fn scale(
        &self,
        action: &ScalingAction,
        config: &ConfigMap,
    ) -> Result<(), AutoscalerHarnessError> {
        self.want(PluginKind::Target, "Scale")?;
        let mut client = TargetPluginServiceClient::new(self.loaded.channel());
        let request = target_pb::ScaleRequest {
            action: Some(nomad_plugin_sdk::host::autoscaler::action_to_wire(action)),
            config: config.clone().into(),
        };
        rpc("Scale", call("Scale", client.scale(request)).await).map(|_| ())
    }

    /// Stops the plugin as the agent does; fails if it needed SIGKILL.
    pub async fn shutdown(self) -> Result<(), AutoscalerHarnessError> {
        let report = self
            .loaded
            .plugin
            .kill()
            .await
            .map_err(|e| AutoscalerHarnessError::Protocol(e.to_string()))?;
        if !report.graceful {
            return Err(AutoscalerHarnessError::Protocol(format!(
                "the plugin did not exit within 2 s of go-plugin's shutdown and was killed ({})",
                report.status
            )));
        }
        Ok(())
    }
}

//! Conformance suites for Nomad Autoscaler plugins (APM, strategy, target).
//!
//! A suite loads the plugin binary the way the autoscaler agent's plugin
//! manager does, then exercises the kind's calls and reports each finding
//! in a [`SuiteReport`], saying what the agent would do:
//!
//! 1. launch with the autoscaler's handshake (cookie
//!    `NOMAD_AUTOSCALER_PLUGIN_MAGIC_COOKIE`, protocol 1, gRPC only);
//! 2. `PluginInfo`: the name must equal the configured `driver` (by default
//!    the binary's file name) and the type must match the block kind;
//! 3. `SetConfig` with the block's `config` and the agent's `nomad_*`
//!    settings merged in as the agent merges them (see
//!    [`ConfigMap::merge_agent_nomad_config`]), then once more as a reload;
//! 4. the kind's calls: APM queries over the agent's window
//!    (`[now - query_window, now]`), strategy runs, target status and
//!    scale;
//! 5. go-plugin's shutdown, which must end the process within two seconds.
//!
//! ```no_run
//! # async fn demo() {
//! use nomad_plugin_testkit::autoscaler::AutoscalerSuite;
//!
//! let report = AutoscalerSuite::apm("target/debug/apm-procfs")
//!     .config("sample_interval", "1s")
//!     .query("load_1")
//!     .query("avg(memory_percent)")
//!     .bad_query("no_such_metric")
//!     .run()
//!     .await;
//! report.assert_passed();
//! # }
//! ```

mod apm;
mod harness;
mod load;
mod strategy;
mod target;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nomad_plugin_sdk::autoscaler::{ConfigMap, NomadConfig, ScalingDirection};

use crate::report::{Progress, SuiteReport};

pub use harness::{AutoscalerHarness, AutoscalerHarnessBuilder, AutoscalerHarnessError};

/// How long the suite waits for one call. The agent itself sets no
/// deadline on most autoscaler calls, so a call that hangs hangs the
/// agent's evaluation; the suite gives up (generously) and reports it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The kind of autoscaler plugin, as named in the agent config
/// (`apm`, `strategy`, `target` blocks) and go-plugin's plugin set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// A metrics source.
    Apm,
    /// A scaling strategy.
    Strategy,
    /// A scalable target.
    Target,
}

impl PluginKind {
    /// The block and plugin-set name (`apm`, `strategy`, `target`).
    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Apm => "apm",
            PluginKind::Strategy => "strategy",
            PluginKind::Target => "target",
        }
    }
}

/// What a strategy case expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Any coherent action.
    Any,
    /// An action in this direction; with `Some(count)`, to this count too.
    Action(ScalingDirection, Option<i64>),
    /// An error (for example a missing required setting).
    Error,
}

/// One strategy evaluation to run: the policy check's strategy settings,
/// the samples the APM returned, and the target's current count.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyCase {
    /// Name used in the report.
    pub name: String,
    /// The strategy block's settings.
    pub config: ConfigMap,
    /// Sample values, oldest first (stamped one second apart, ending now).
    pub metrics: Vec<f64>,
    /// The current count.
    pub count: i64,
    /// What the answer should be.
    pub expect: Expect,
}

impl StrategyCase {
    /// A case with no settings that accepts any coherent action.
    pub fn new(name: impl Into<String>, count: i64, metrics: impl Into<Vec<f64>>) -> Self {
        StrategyCase {
            name: name.into(),
            config: ConfigMap::new(),
            metrics: metrics.into(),
            count,
            expect: Expect::Any,
        }
    }

    /// Adds a strategy setting.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key, value);
        self
    }

    /// Expects an action in `direction` to `count` (`None`: any count).
    pub fn expect(mut self, direction: ScalingDirection, count: Option<i64>) -> Self {
        self.expect = Expect::Action(direction, count);
        self
    }

    /// Expects an error.
    pub fn expect_error(mut self) -> Self {
        self.expect = Expect::Error;
        self
    }
}

/// A conformance run against one autoscaler plugin binary.
#[derive(Debug, Clone)]
pub struct AutoscalerSuite {
    pub(crate) kind: PluginKind,
    pub(crate) binary: PathBuf,
    pub(crate) driver: String,
    pub(crate) args: Vec<String>,
    pub(crate) config: ConfigMap,
    pub(crate) agent_nomad: NomadConfig,
    pub(crate) queries: Vec<String>,
    pub(crate) bad_queries: Vec<String>,
    pub(crate) query_window: Duration,
    pub(crate) expect_points: bool,
    pub(crate) cases: Vec<StrategyCase>,
    pub(crate) target_config: ConfigMap,
    pub(crate) scale_by: Option<i64>,
    pub(crate) progress: Option<Progress>,
}

impl AutoscalerSuite {
    fn new(kind: PluginKind, binary: impl Into<PathBuf>) -> Self {
        let binary = binary.into();
        let driver = driver_name(&binary);
        AutoscalerSuite {
            kind,
            binary,
            driver,
            args: Vec::new(),
            config: ConfigMap::new(),
            // What an agent with no `nomad` block and no NOMAD_* environment
            // sends (the API's default address), plus an ACL token.
            agent_nomad: NomadConfig {
                address: Some("http://127.0.0.1:4646".into()),
                // A recognisable ACL token, so the suite can prove it never
                // reaches the plugin's logs.
                token: Some(SENTINEL_TOKEN.into()),
                ..Default::default()
            },
            queries: Vec::new(),
            bad_queries: Vec::new(),
            query_window: Duration::from_secs(60),
            expect_points: true,
            cases: Vec::new(),
            target_config: ConfigMap::new(),
            scale_by: None,
            progress: None,
        }
    }

    /// A suite for an APM plugin.
    pub fn apm(binary: impl Into<PathBuf>) -> Self {
        Self::new(PluginKind::Apm, binary)
    }

    /// A suite for a strategy plugin.
    pub fn strategy(binary: impl Into<PathBuf>) -> Self {
        Self::new(PluginKind::Strategy, binary)
    }

    /// A suite for a target plugin.
    pub fn target(binary: impl Into<PathBuf>) -> Self {
        Self::new(PluginKind::Target, binary)
    }

    /// Tells `progress` about each check as soon as it is recorded (the
    /// CLI prints them live).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The `driver` of the agent's block (default: the binary's file name,
    /// which is what the agent runs from its `plugin_dir`).
    pub fn driver(mut self, driver: impl Into<String>) -> Self {
        self.driver = driver.into();
        self
    }

    /// Adds a command-line argument (`args = [...]` in the block).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds a setting to the block's `config`.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key, value);
        self
    }

    /// The agent's own Nomad settings, merged into the config unless it
    /// sets `nomad_config_inherit = "false"` (default: the address
    /// `http://127.0.0.1:4646`, as a default agent sends, and
    /// [`SENTINEL_TOKEN`] as `nomad_token`).
    pub fn agent_nomad(mut self, nomad: NomadConfig) -> Self {
        self.agent_nomad = nomad;
        self
    }

    /// APM: a query that must succeed.
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.queries.push(query.into());
        self
    }

    /// APM: a query that must be refused with an error.
    pub fn bad_query(mut self, query: impl Into<String>) -> Self {
        self.bad_queries.push(query.into());
        self
    }

    /// APM: the check's `query_window` (default one minute, the agent's).
    pub fn query_window(mut self, window: Duration) -> Self {
        self.query_window = window;
        self
    }

    /// APM: whether a good query must return at least one point (default
    /// yes: with none the agent skips the check as "no metrics").
    pub fn expect_points(mut self, expect: bool) -> Self {
        self.expect_points = expect;
        self
    }

    /// Strategy: an evaluation to run.
    pub fn case(mut self, case: StrategyCase) -> Self {
        self.cases.push(case);
        self
    }

    /// Target: a setting of the policy's `target` block.
    pub fn target_config(mut self, key: &str, value: &str) -> Self {
        self.target_config.insert(key, value);
        self
    }

    /// Target: also scale by `delta` from the current count, check the
    /// status follows, and scale back.
    pub fn scale_by(mut self, delta: i64) -> Self {
        self.scale_by = Some(delta);
        self
    }

    /// The config the agent would send in `SetConfig`.
    pub fn merged_config(&self) -> ConfigMap {
        let mut c = self.config.clone();
        c.merge_agent_nomad_config(&self.agent_nomad);
        c
    }

    /// Runs the suite. Never panics on the plugin's behaviour: every
    /// finding is in the report.
    pub async fn run(self) -> SuiteReport {
        let mut report = SuiteReport::new(
            format!("autoscaler {}", self.kind.name()),
            self.binary.display().to_string(),
        )
        .with_progress(self.progress.clone());
        let plugin = match load::load_checked(&self, &mut report).await {
            Some(p) => p,
            None => return report,
        };
        match self.kind {
            PluginKind::Apm => apm::run(&self, &plugin, &mut report).await,
            PluginKind::Strategy => strategy::run(&self, &plugin, &mut report).await,
            PluginKind::Target => target::run(&self, &plugin, &mut report).await,
        }
        load::still_serving(&plugin, &mut report).await;
        load::token_not_logged(&self, &plugin, &mut report);
        load::shutdown(plugin, &mut report).await;
        report
    }
}

/// The `nomad_token` the suite's agent sends unless [`AutoscalerSuite::agent_nomad`]
/// says otherwise; the `secrets.token_not_logged` check looks for it in the
/// plugin's logs.
pub const SENTINEL_TOKEN: &str = "a1b2c3d4-testkit-secret-never-log-me";

/// The `driver` the agent would use for this binary: its file name.
pub fn driver_name(binary: &Path) -> String {
    binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Awaits `fut` for at most [`CALL_TIMEOUT`], as a `Result` of the gRPC call
/// or a message saying it hung.
pub(crate) async fn call<T>(
    what: &str,
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<Result<T, tonic::Status>, String> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(r) => Ok(r.map(tonic::Response::into_inner)),
        Err(_) => Err(format!(
            "{what} did not answer within {CALL_TIMEOUT:?}; the agent sets no deadline, so its \
             evaluation would hang"
        )),
    }
}

/// A status as the agent's log shows it.
pub(crate) fn show(status: &tonic::Status) -> String {
    format!(
        "rpc error: code = {:?} desc = {}",
        status.code(),
        status.message()
    )
}

//! The values an autoscaler plugin works with, as Rust types: what the
//! autoscaler's agent asks (time ranges, policy checks, per-policy config)
//! and what plugins answer (metrics, scaling actions, target status).
//!
//! The conversions to and from the wire messages live in `wire.rs`; plugin
//! code never sees protobuf.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use super::config::ConfigMap;

/// The window an APM query covers, both ends included.
///
/// The agent asks for `[now - query_window, now]` (one minute unless the
/// policy check sets `query_window`, shifted back by `query_window_offset`);
/// for checks with `query_window = "0s"` both ends are the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeRange {
    /// Start of the window.
    pub from: SystemTime,
    /// End of the window.
    pub to: SystemTime,
}

impl TimeRange {
    /// A window from `from` to `to`.
    pub fn new(from: SystemTime, to: SystemTime) -> Self {
        TimeRange { from, to }
    }

    /// The window of `length` that ends at `to`.
    pub fn ending_at(to: SystemTime, length: Duration) -> Self {
        TimeRange {
            from: to.checked_sub(length).unwrap_or(SystemTime::UNIX_EPOCH),
            to,
        }
    }

    /// Whether `t` lies in the window (both ends included).
    pub fn contains(&self, t: SystemTime) -> bool {
        self.from <= t && t <= self.to
    }

    /// How long the window is; zero when `from` is after `to`.
    pub fn length(&self) -> Duration {
        self.to.duration_since(self.from).unwrap_or(Duration::ZERO)
    }

    /// Whether `from` is after `to`: no point can lie in such a window.
    pub fn is_inverted(&self) -> bool {
        self.from > self.to
    }
}

/// One sample of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct TimestampedMetric {
    /// When the sample was taken.
    pub timestamp: SystemTime,
    /// Its value.
    pub value: f64,
}

impl TimestampedMetric {
    /// A sample.
    pub fn new(timestamp: SystemTime, value: f64) -> Self {
        TimestampedMetric { timestamp, value }
    }
}

/// Which way a scaling action moves the target's count.
///
/// The wire enum also has `UNSPECIFIED`, which the autoscaler refuses
/// ("scale direction is unknown"); this type cannot express it, so a
/// strategy written with the SDK cannot send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ScalingDirection {
    /// Leave the target as it is. The agent ignores the action's count.
    #[default]
    None,
    /// Lower the count.
    Down,
    /// Raise the count.
    Up,
}

impl fmt::Display for ScalingDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The words the autoscaler uses in its logs and reasons.
        f.write_str(match self {
            ScalingDirection::None => "none",
            ScalingDirection::Down => "down",
            ScalingDirection::Up => "up",
        })
    }
}

/// A decision to change (or keep) a target's count.
///
/// Strategies return one from [`Strategy::run`](super::Strategy::run);
/// targets receive one in [`Target::scale`](super::Target::scale), after the
/// agent has capped the count to the policy's `min`/`max` and added its own
/// meta keys (`nomad_autoscaler.*`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ScalingAction {
    /// The desired count. Zero or more, except in dry-run mode where the
    /// agent sets it to [`ScalingAction::DRY_RUN_COUNT`].
    pub count: i64,
    /// Why, in words an operator reads in the agent's log.
    pub reason: String,
    /// Whether `reason` describes an error rather than a decision.
    pub error: bool,
    /// Which way the count moves.
    pub direction: ScalingDirection,
    /// Free-form details. On the wire this is a JSON object in the `value`
    /// of a `google.protobuf.Any` whose `type_url` is empty, as the
    /// autoscaler writes it; an empty map is sent as no meta at all.
    pub meta: serde_json::Map<String, serde_json::Value>,
}

impl ScalingAction {
    /// The count the agent puts in an action it runs in dry-run mode.
    pub const DRY_RUN_COUNT: i64 = -1;

    /// An action that changes nothing.
    pub fn none(reason: impl Into<String>) -> Self {
        ScalingAction {
            reason: reason.into(),
            ..Default::default()
        }
    }

    /// An action that moves the count to `count` in `direction`.
    pub fn scale(count: i64, direction: ScalingDirection, reason: impl Into<String>) -> Self {
        ScalingAction {
            count,
            direction,
            reason: reason.into(),
            ..Default::default()
        }
    }

    /// Adds one meta entry.
    pub fn with_meta(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }

    /// Whether the agent marked this action as a dry run (its meta holds
    /// `nomad_autoscaler.dry_run = true`): a target must not change anything.
    pub fn is_dry_run(&self) -> bool {
        self.meta.get("nomad_autoscaler.dry_run") == Some(&serde_json::Value::Bool(true))
    }
}

/// The strategy block of a policy check.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ScalingPolicyStrategy {
    /// The strategy plugin's name (the `strategy "<name>"` label).
    pub name: String,
    /// The block's settings, for example `target = "70"`.
    pub config: ConfigMap,
}

impl ScalingPolicyStrategy {
    /// The `strategy "<name>"` block with its settings.
    pub fn new(name: impl Into<String>, config: ConfigMap) -> Self {
        ScalingPolicyStrategy {
            name: name.into(),
            config,
        }
    }
}

/// One `check` of a scaling policy, as the agent hands it to a strategy.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ScalingPolicyCheck {
    /// The check's name.
    pub name: String,
    /// The APM plugin the query went to.
    pub source: String,
    /// The query text.
    pub query: String,
    /// How far back the query looked (zero when the wire value was missing
    /// or negative).
    pub query_window: Duration,
    /// The strategy block.
    pub strategy: ScalingPolicyStrategy,
}

impl ScalingPolicyCheck {
    /// The check `name`, whose `query` went to the APM plugin `source` over
    /// `query_window`, evaluated by `strategy`.
    pub fn new(
        name: impl Into<String>,
        source: impl Into<String>,
        query: impl Into<String>,
        query_window: Duration,
        strategy: ScalingPolicyStrategy,
    ) -> Self {
        ScalingPolicyCheck {
            name: name.into(),
            source: source.into(),
            query: query.into(),
            query_window,
            strategy,
        }
    }
}

/// What a strategy evaluates: one policy check and the metrics its query
/// returned, sorted by time (the agent sorts them before the call).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ScalingCheckEvaluation {
    /// The check.
    pub check: ScalingPolicyCheck,
    /// The samples, oldest first. Never empty when the agent calls: it
    /// skips the check when the APM returns no samples.
    pub metrics: Vec<TimestampedMetric>,
}

impl ScalingCheckEvaluation {
    /// `check` with the samples its query returned, oldest first.
    pub fn new(check: ScalingPolicyCheck, metrics: Vec<TimestampedMetric>) -> Self {
        ScalingCheckEvaluation { check, metrics }
    }
}

/// What a target reports about itself before each evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TargetStatus {
    /// Whether the target can be scaled now. When false the agent skips
    /// the evaluation (no query, no strategy, no scale).
    pub ready: bool,
    /// The current count, passed to the strategy.
    pub count: i64,
    /// Target-specific details; the agent reads a few well-known keys
    /// (for example `nomad_autoscaler.last_event`, a Unix nanosecond
    /// timestamp of the last scaling event, used for cooldowns).
    pub meta: HashMap<String, String>,
}

impl TargetStatus {
    /// A ready target at `count`.
    pub fn ready(count: i64) -> Self {
        TargetStatus {
            ready: true,
            count,
            meta: HashMap::new(),
        }
    }

    /// Adds one meta entry.
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_range_bounds_are_inclusive() {
        let to = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let r = TimeRange::ending_at(to, Duration::from_secs(60));
        assert!(r.contains(to));
        assert!(r.contains(to - Duration::from_secs(60)));
        assert!(!r.contains(to - Duration::from_secs(61)));
        assert!(!r.contains(to + Duration::from_nanos(1)));
        assert_eq!(r.length(), Duration::from_secs(60));
        assert!(!r.is_inverted());
        let inverted = TimeRange::new(to, r.from);
        assert!(inverted.is_inverted());
        assert_eq!(inverted.length(), Duration::ZERO);
    }

    #[test]
    fn dry_run_is_read_from_meta() {
        let a = ScalingAction::scale(3, ScalingDirection::Up, "x");
        assert!(!a.is_dry_run());
        assert!(a.with_meta("nomad_autoscaler.dry_run", true).is_dry_run());
    }
}

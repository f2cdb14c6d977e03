//! `strategy-target-value`: the Nomad Autoscaler's `target-value` strategy
//! as an external plugin, computing exactly what the built-in one computes.
//!
//! Per-check settings (`strategy "target-value" { ... }` in a policy):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `target` | required | the value the metric should have per instance |
//! | `threshold` | `0.01` | how far the factor may stray from 1 before acting |
//! | `max_scale_up` | unlimited | most instances added in one action |
//! | `max_scale_down` | unlimited | most instances removed in one action |
//!
//! The formula, with `v` the newest sample, `c` the current count, `t` the
//! target and `e` the threshold:
//!
//! 1. `factor = v / t`, or `factor = v` when `t = 0` (a queue that should
//!    be empty: any item asks for an instance).
//! 2. Direction: when `c = 0`, up if `factor > 0`, else none. Otherwise down
//!    if `factor < 1 - e`, up if `factor > 1 + e`, else none (the dead band
//!    `[1 - e, 1 + e]` keeps the count steady).
//! 3. New count: `ceil(factor)` when `c = 0`, else `ceil(c * factor)`.
//! 4. Limits: no lower than `c - max_scale_down`, no higher than
//!    `c + max_scale_up`.
//! 5. If the new count equals `c`, the direction becomes none; otherwise
//!    the reason is `scaling <up|down> because factor is <factor, 6 decimals>`.
//!
//! The agent then caps the count to the policy's `min` and `max`.
//!
//! One deliberate difference: with no samples at all the built-in strategy
//! returns no evaluation, which an external Go plugin cannot even encode;
//! this plugin answers direction none with the reason "no metrics". (The
//! agent never calls a strategy without samples.)

use nomad_plugin_sdk::autoscaler::prelude::*;

/// The settings of one check's strategy block.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    target: f64,
    threshold: f64,
    max_scale_up: Option<i64>,
    max_scale_down: Option<i64>,
}

impl Settings {
    fn from_config(config: &ConfigMap) -> Result<Self, AutoscalerError> {
        let target = config
            .parse::<f64>("target")?
            .ok_or_else(|| AutoscalerError::config("target", "missing required field `target`"))?;
        Ok(Settings {
            target,
            threshold: config.parse::<f64>("threshold")?.unwrap_or(0.01),
            max_scale_up: config.parse::<i64>("max_scale_up")?,
            max_scale_down: config.parse::<i64>("max_scale_down")?,
        })
    }
}

/// The direction for a factor, with the dead band `[1 - e, 1 + e]`.
fn direction(count: i64, factor: f64, e: f64) -> ScalingDirection {
    if count == 0 {
        return if factor > 0.0 {
            ScalingDirection::Up
        } else {
            ScalingDirection::None
        };
    }
    if factor < 1.0 - e {
        ScalingDirection::Down
    } else if factor > 1.0 + e {
        ScalingDirection::Up
    } else {
        ScalingDirection::None
    }
}

/// A float as Go's `int64(x)` would give it for the values that matter,
/// saturating instead of the undefined result Go gives out of range.
fn to_count(x: f64) -> i64 {
    if x.is_nan() {
        0
    } else {
        x as i64
    }
}

/// The target-value computation on the newest value.
fn decide(value: f64, count: i64, s: &Settings) -> ScalingAction {
    let factor = if s.target == 0.0 {
        value
    } else {
        value / s.target
    };
    let dir = direction(count, factor, s.threshold);
    if dir == ScalingDirection::None {
        return ScalingAction::default();
    }
    let mut new_count = if count == 0 {
        to_count(factor.ceil())
    } else {
        to_count((count as f64 * factor).ceil())
    };
    if let Some(down) = s.max_scale_down {
        new_count = new_count.max(count.saturating_sub(down));
    }
    if let Some(up) = s.max_scale_up {
        new_count = new_count.min(count.saturating_add(up));
    }
    if new_count == count {
        return ScalingAction::default();
    }
    ScalingAction::scale(
        new_count,
        dir,
        format!("scaling {dir} because factor is {factor:.6}"),
    )
}

/// The plugin.
struct TargetValue;

#[async_trait]
impl Base for TargetValue {}

#[async_trait]
impl Strategy for TargetValue {
    async fn run(
        &self,
        eval: ScalingCheckEvaluation,
        count: i64,
    ) -> Result<ScalingAction, AutoscalerError> {
        let Some(newest) = eval.metrics.last() else {
            return Ok(ScalingAction::none("no metrics"));
        };
        let settings = Settings::from_config(&eval.check.strategy.config)?;
        let action = decide(newest.value, count, &settings);
        tracing::trace!(
            check = %eval.check.name,
            current_count = count,
            new_count = action.count,
            metric_value = newest.value,
            direction = %action.direction,
            "calculated scaling strategy results"
        );
        Ok(action)
    }
}

fn main() -> std::process::ExitCode {
    nomad_plugin_sdk::autoscaler::strategy::serve(TargetValue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn settings(target: f64) -> Settings {
        Settings {
            target,
            threshold: 0.01,
            max_scale_up: None,
            max_scale_down: None,
        }
    }

    fn act(value: f64, count: i64, s: Settings) -> (ScalingDirection, i64) {
        let a = decide(value, count, &s);
        (a.direction, a.count)
    }

    // Cases worked out from the formula by hand; the first block are the
    // inputs of the built-in strategy's own tests, with its expectations.
    #[test]
    fn follows_the_formula() {
        use ScalingDirection::{Down, None, Up};
        assert_eq!(act(13.0, 2, settings(13.0)), (None, 0));
        assert_eq!(act(26.0, 2, settings(13.0)), (Up, 4));
        assert_eq!(act(20.0, 0, settings(10.0)), (Up, 2));
        assert_eq!(act(9.0, 1, settings(10.0)), (None, 0));
        assert_eq!(act(1.0, 0, settings(10.0)), (Up, 1));
        assert_eq!(act(0.0, 5, settings(0.0)), (Down, 0));
        assert_eq!(act(5.00001, 8, settings(5.0)), (None, 0));
        let mut tiny = settings(5.0);
        tiny.threshold = 0.000001;
        assert_eq!(act(5.00001, 8, tiny), (Up, 9));

        assert_eq!(act(26.0, 1, settings(13.0)), (Up, 2));
        assert_eq!(act(20.0, 10, settings(40.0)), (Down, 5));
        assert_eq!(act(10.0, 10, settings(10.0)), (None, 0));
        // Inside the dead band.
        assert_eq!(act(10.05, 3, settings(10.0)), (None, 0));
        // From zero: ceil(factor).
        assert_eq!(act(5.0, 0, settings(2.0)), (Up, 3));
        assert_eq!(act(0.0, 0, settings(2.0)), (None, 0));
        // Target zero: the factor is the value itself.
        assert_eq!(act(3.0, 1, settings(0.0)), (Up, 3));
        assert_eq!(act(0.0, 4, settings(0.0)), (Down, 0));
        // ceil can land back on the current count.
        assert_eq!(act(0.95, 1, settings(1.0)), (None, 0));
        // Limits.
        let mut s = settings(1.0);
        s.max_scale_up = Some(2);
        s.max_scale_down = Some(1);
        assert_eq!(act(10.0, 2, s), (Up, 4));
        assert_eq!(act(0.1, 5, s), (Down, 4));
        // A wider threshold.
        let mut s = settings(10.0);
        s.threshold = 0.5;
        assert_eq!(act(14.0, 4, s), (None, 0));
        assert_eq!(act(16.0, 4, s), (Up, 7));
    }

    #[test]
    fn reason_uses_six_decimals() {
        let a = decide(26.0, 1, &settings(13.0));
        assert_eq!(a.reason, "scaling up because factor is 2.000000");
    }

    #[test]
    fn settings_are_validated() {
        let e = Settings::from_config(&ConfigMap::new()).expect_err("target required");
        assert!(
            e.to_string().contains("missing required field `target`"),
            "{e}"
        );
        for (k, v) in [
            ("target", "x"),
            ("threshold", "1%"),
            ("max_scale_up", "1.5"),
        ] {
            let mut c: ConfigMap = [("target", "1")].into_iter().collect();
            c.insert(k, v);
            let e = Settings::from_config(&c).expect_err("refused");
            assert!(e.to_string().contains(k), "{e}");
        }
    }

    #[tokio::test]
    async fn run_uses_the_newest_sample() {
        let mut eval = ScalingCheckEvaluation::default();
        eval.check.strategy.config.insert("target", "10");
        let t = SystemTime::now();
        eval.metrics = vec![
            TimestampedMetric::new(t, 100.0),
            TimestampedMetric::new(t, 20.0),
        ];
        let a = TargetValue.run(eval.clone(), 2).await.expect("run");
        assert_eq!((a.direction, a.count), (ScalingDirection::Up, 4));
        eval.metrics.clear();
        let a = TargetValue.run(eval, 2).await.expect("run");
        assert_eq!(a.direction, ScalingDirection::None);
        assert_eq!(a.reason, "no metrics");
    }
}

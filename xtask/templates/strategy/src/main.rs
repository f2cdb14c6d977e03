//! `{{name}}`: a Nomad Autoscaler strategy plugin.
//!
//! This starting point scales by one step: up when the newest metric is
//! above `upper`, down when it is below `lower` (default 0). Replace `run`
//! with your own decision.

use nomad_plugin_sdk::autoscaler::prelude::*;

/// The plugin. Its name is the binary's file name, as the autoscaler requires.
struct Steps;

#[async_trait]
impl Base for Steps {}

#[async_trait]
impl Strategy for Steps {
    async fn run(
        &self,
        eval: ScalingCheckEvaluation,
        count: i64,
    ) -> Result<ScalingAction, AutoscalerError> {
        let config = &eval.check.strategy.config;
        let upper = config
            .parse::<f64>("upper")?
            .ok_or_else(|| AutoscalerError::config("upper", "missing required field `upper`"))?;
        let lower = config.parse::<f64>("lower")?.unwrap_or(0.0);
        let Some(newest) = eval.metrics.last() else {
            return Ok(ScalingAction::none("no metrics"));
        };
        let value = newest.value;
        Ok(if value > upper {
            ScalingAction::scale(
                count.saturating_add(1),
                ScalingDirection::Up,
                format!("{value} is above {upper}"),
            )
        } else if value < lower && count > 0 {
            ScalingAction::scale(
                count - 1,
                ScalingDirection::Down,
                format!("{value} is below {lower}"),
            )
        } else {
            ScalingAction::none(format!("{value} is within [{lower}, {upper}]"))
        })
    }
}

fn main() -> std::process::ExitCode {
    nomad_plugin_sdk::autoscaler::strategy::serve(Steps)
}

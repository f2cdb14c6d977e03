//! Strategy checks: each case's action must be one the agent can use.

use std::time::{Duration, SystemTime};

use nomad_plugin_proto::autoscaler::shared as shared_pb;
use nomad_plugin_proto::autoscaler::strategy as pb;
use nomad_plugin_proto::autoscaler::strategy::strategy_plugin_service_client::StrategyPluginServiceClient;
use nomad_plugin_sdk::autoscaler::{
    ScalingAction, ScalingDirection, ScalingPolicyCheck, ScalingPolicyStrategy, TimestampedMetric,
};
use nomad_plugin_sdk::host::autoscaler as wire;

use super::load::Loaded;
use super::{call, show, AutoscalerSuite, Expect, StrategyCase};
use crate::report::SuiteReport;

/// Whether `action` is one the agent can act on sensibly from `count`.
pub(crate) fn judge_action(action: &ScalingAction, count: i64) -> Result<(), String> {
    match action.direction {
        ScalingDirection::None => Ok(()),
        ScalingDirection::Up if action.count <= count => Err(format!(
            "direction up but count {} is not above the current {count}; the agent scales to \
             the count whenever it differs, so this would scale down while logging up",
            action.count
        )),
        ScalingDirection::Down if action.count >= count => Err(format!(
            "direction down but count {} is not below the current {count}; the agent would \
             scale up (or do nothing) while logging down",
            action.count
        )),
        _ if action.count < 0 => Err(format!(
            "negative count {}; the agent only caps it to the policy's min, which may be 0, \
             and a count of -1 means dry run to targets",
            action.count
        )),
        _ => Ok(()),
    }
}

pub(crate) fn request(case: &StrategyCase, strategy_name: &str) -> pb::RunRequest {
    let now = SystemTime::now();
    let n = case.metrics.len() as u64;
    let metrics: Vec<TimestampedMetric> = case
        .metrics
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let age = Duration::from_secs(n - 1 - i as u64);
            TimestampedMetric::new(now - age, *v)
        })
        .collect();
    let check = ScalingPolicyCheck::new(
        case.name.clone(),
        "testkit",
        "testkit",
        Duration::from_secs(60),
        ScalingPolicyStrategy::new(strategy_name, case.config.clone()),
    );
    pb::RunRequest {
        // The agent sends an empty action for the strategy to fill in.
        action: Some(shared_pb::ScalingAction::default()),
        check: Some(wire::check_to_wire(&check)),
        timestamped_metric: wire::metrics_to_wire(&metrics),
        count: case.count,
    }
}

pub(crate) async fn run(suite: &AutoscalerSuite, loaded: &Loaded, report: &mut SuiteReport) {
    let mut client = StrategyPluginServiceClient::new(loaded.channel());
    if suite.cases.is_empty() {
        report.skip(
            "run",
            "no strategy cases given to the suite (AutoscalerSuite::case)",
        );
    }
    for case in &suite.cases {
        let name = format!("run[{}]", case.name);
        let result = match call("Run", client.run(request(case, &suite.driver))).await {
            Err(hung) => Err(hung),
            Ok(Err(status)) if case.expect == Expect::Error => Ok(format!(
                "refused as expected: {} (the agent logs this and skips the check)",
                show(&status)
            )),
            Ok(Err(status)) => Err(format!(
                "failed ({}); the agent would log \"failed to execute strategy\" and skip the \
                 check",
                show(&status)
            )),
            Ok(Ok(resp)) => judge_response(case, resp.action.as_ref()),
        };
        report.record(name, result);
    }
}

fn judge_response(
    case: &StrategyCase,
    action: Option<&shared_pb::ScalingAction>,
) -> Result<String, String> {
    let Some(raw) = action else {
        return Err(
            "no action in the answer; the agent would treat it as \"no change\" \
                    without a reason"
                .into(),
        );
    };
    let action = wire::action_from_wire(Some(raw)).map_err(|e| {
        format!("{e}; the agent would fail the check (its Go client refuses this action)")
    })?;
    if case.expect == Expect::Error {
        return Err(format!(
            "expected an error, got direction {} count {}",
            action.direction, action.count
        ));
    }
    judge_action(&action, case.count)?;
    if let Expect::Action(direction, count) = &case.expect {
        if action.direction != *direction || count.is_some_and(|c| c != action.count) {
            return Err(format!(
                "expected direction {direction}{}, got direction {} count {} ({:?})",
                count.map(|c| format!(" count {c}")).unwrap_or_default(),
                action.direction,
                action.count,
                action.reason
            ));
        }
    }
    Ok(format!(
        "direction {} count {} from {} ({:?})",
        action.direction, action.count, case.count, action.reason
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoherent_actions_are_caught() {
        let a = |d, c| ScalingAction::scale(c, d, "");
        assert!(judge_action(&a(ScalingDirection::Up, 5), 4).is_ok());
        assert!(judge_action(&a(ScalingDirection::Up, 4), 4).is_err());
        assert!(judge_action(&a(ScalingDirection::Down, 3), 4).is_ok());
        assert!(judge_action(&a(ScalingDirection::Down, 5), 4).is_err());
        assert!(judge_action(&a(ScalingDirection::Down, -2), 4).is_err());
        assert!(judge_action(&a(ScalingDirection::None, 0), 4).is_ok());
    }

    #[test]
    fn unspecified_direction_and_bad_meta_fail() {
        let case = StrategyCase::new("c", 1, vec![1.0]);
        let mut raw = wire::action_to_wire(&ScalingAction::scale(2, ScalingDirection::Up, "r"));
        assert!(judge_response(&case, Some(&raw)).is_ok());
        raw.direction = shared_pb::ScalingDirection::Unspecified as i32;
        let e = judge_response(&case, Some(&raw)).unwrap_err();
        assert!(e.contains("scale direction is unknown"), "{e}");
        raw.direction = shared_pb::ScalingDirection::Up as i32;
        raw.meta = Some(nomad_plugin_proto::prost_types::Any {
            type_url: String::new(),
            value: b"[]".to_vec(),
        });
        assert!(judge_response(&case, Some(&raw)).is_err());
        assert!(judge_response(&case, None).is_err());
        let want_down = case.clone().expect(ScalingDirection::Down, None);
        raw.meta = None;
        assert!(judge_response(&want_down, Some(&raw)).is_err());
    }
}

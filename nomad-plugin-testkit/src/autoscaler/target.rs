//! Target checks: status as the agent reads it, and a scale round trip.

use nomad_plugin_proto::autoscaler::target as pb;
use nomad_plugin_proto::autoscaler::target::target_plugin_service_client::TargetPluginServiceClient;
use nomad_plugin_sdk::autoscaler::config::keys;
use nomad_plugin_sdk::autoscaler::{ConfigMap, ScalingAction, ScalingDirection};
use nomad_plugin_sdk::host::autoscaler as wire;
use tonic::transport::Channel;

use super::load::Loaded;
use super::{call, show, AutoscalerSuite};
use crate::report::SuiteReport;

/// The timeout the agent adds to a target's config: 75% of the default
/// evaluation interval of 10 s.
const AGENT_GRPC_TIMEOUT: &str = "7.5s";

fn policy_config(suite: &AutoscalerSuite) -> ConfigMap {
    let mut c = suite.target_config.clone();
    c.insert(keys::GRPC_TIMEOUT, AGENT_GRPC_TIMEOUT);
    c
}

/// What is wrong with a status for the agent, if anything.
pub(crate) fn judge_status(status: &pb::StatusResponse) -> Result<String, String> {
    if status.count < 0 {
        return Err(format!(
            "count {} is negative; strategies would compute from it and the agent would scale \
             to nonsense",
            status.count
        ));
    }
    if let Some(v) = status.meta.get("nomad_autoscaler.last_event") {
        if v.parse::<i64>().is_err() {
            return Err(format!(
                "meta nomad_autoscaler.last_event = {v:?} is not Unix nanoseconds; the agent \
                 would fail to load the policy's cooldown state"
            ));
        }
    }
    Ok(format!(
        "ready {} count {}{}",
        status.ready,
        status.count,
        if status.ready {
            String::new()
        } else {
            " (not ready: the agent skips evaluations until it is)".into()
        }
    ))
}

async fn status(
    client: &mut TargetPluginServiceClient<Channel>,
    config: &ConfigMap,
) -> Result<pb::StatusResponse, String> {
    let request = pb::StatusRequest {
        config: config.clone().into(),
    };
    match call("Status", client.status(request)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!(
            "Status failed ({}); the agent would skip every evaluation of the policy",
            show(&e)
        )),
        Err(hung) => Err(hung),
    }
}

async fn scale(
    client: &mut TargetPluginServiceClient<Channel>,
    config: &ConfigMap,
    to: i64,
    from: i64,
) -> Result<Result<(), tonic::Status>, String> {
    let direction = if to > from {
        ScalingDirection::Up
    } else {
        ScalingDirection::Down
    };
    // As the agent sends it: capped count, the policy id in meta.
    let action = ScalingAction::scale(to, direction, format!("testkit: {from} to {to}"))
        .with_meta("nomad_policy_id", "nomad-plugin-testkit");
    let request = pb::ScaleRequest {
        action: Some(wire::action_to_wire(&action)),
        config: config.clone().into(),
    };
    call("Scale", client.scale(request))
        .await
        .map(|r| r.map(|_| ()))
}

pub(crate) async fn run(suite: &AutoscalerSuite, loaded: &Loaded, report: &mut SuiteReport) {
    let mut client = TargetPluginServiceClient::new(loaded.channel());
    let config = policy_config(suite);
    let before = match status(&mut client, &config).await {
        Ok(s) => {
            let ok = report.record("status", judge_status(&s));
            ok.then_some(s)
        }
        Err(e) => {
            report.record("status", Err(e));
            None
        }
    };
    let Some(delta) = suite.scale_by.filter(|d| *d != 0) else {
        report.skip(
            "scale",
            "no scale asked of the suite (AutoscalerSuite::scale_by)",
        );
        return;
    };
    let Some(before) = before else {
        report.skip("scale", "the status check failed");
        return;
    };
    if !before.ready {
        report.skip(
            "scale",
            "the target is not ready; the agent would not scale it",
        );
        return;
    }
    let from = before.count;
    let to = from.saturating_add(delta).max(0);
    let scaled = match scale(&mut client, &config, to, from).await {
        Ok(Ok(())) => report.record("scale", Ok(format!("scaled from {from} to {to}"))),
        Ok(Err(s)) if s.code() == tonic::Code::Aborted => report.record(
            "scale",
            Err(format!(
                "answered no-op ({}) to a change from {from} to {to}; the agent would skip the \
                 cooldown and ask again at the next evaluation",
                show(&s)
            )),
        ),
        Ok(Err(s)) => report.record(
            "scale",
            Err(format!(
                "Scale from {from} to {to} failed ({}); the agent would log \"failed to scale \
                 target\" and retry at the next evaluation",
                show(&s)
            )),
        ),
        Err(hung) => report.record("scale", Err(hung)),
    };
    if !scaled {
        return;
    }
    let followed = match status(&mut client, &config).await {
        Ok(s) if s.count == to => Ok(format!("status reports count {to} after the scale")),
        Ok(s) => Err(format!(
            "status reports count {} after scaling to {to}; the agent would compute the next \
             action from the old count (fine only if the target converges on its own)",
            s.count
        )),
        Err(e) => Err(e),
    };
    report.record("scale.status_follows", followed);
    // The agent does not send a scale to the current count on purpose, but
    // the count can change between its Status and Scale calls.
    let same = match scale(&mut client, &config, to, from).await {
        Ok(Ok(())) => Ok("a scale to the current count succeeded".into()),
        Ok(Err(s)) if s.code() == tonic::Code::Aborted => Ok(format!(
            "a scale to the current count is a no-op ({}), which the agent expects",
            show(&s)
        )),
        Ok(Err(s)) => Err(format!(
            "a scale to the current count failed ({}); answer success or ABORTED (no-op)",
            show(&s)
        )),
        Err(hung) => Err(hung),
    };
    report.record("scale.same_count", same);
    let back = match scale(&mut client, &config, from, to).await {
        Ok(Ok(())) => Ok(format!("scaled back to {from}")),
        Ok(Err(s)) => Err(format!("scaling back to {from} failed ({})", show(&s))),
        Err(hung) => Err(hung),
    };
    report.record("scale.back", back);
    dry_run(&mut client, &config, report).await;
}

/// A policy whose target sets `dry-run = "true"` makes the agent send the
/// action with count -1, direction none and `nomad_autoscaler.dry_run` in
/// meta: the target must leave the count alone.
async fn dry_run(
    client: &mut TargetPluginServiceClient<Channel>,
    config: &ConfigMap,
    report: &mut SuiteReport,
) {
    let before = match status(client, config).await {
        Ok(s) => s.count,
        Err(e) => {
            report.record("scale.dry_run", Err(e));
            return;
        }
    };
    let action = ScalingAction::scale(
        ScalingAction::DRY_RUN_COUNT,
        ScalingDirection::None,
        "testkit: dry run",
    )
    .with_meta("nomad_policy_id", "nomad-plugin-testkit")
    .with_meta("nomad_autoscaler.dry_run", true)
    .with_meta("nomad_autoscaler.dry_run.count", before + 1);
    let request = pb::ScaleRequest {
        action: Some(wire::action_to_wire(&action)),
        config: config.clone().into(),
    };
    let answered = match call("Scale", client.scale(request)).await {
        Ok(Ok(_)) => Ok("accepted".to_string()),
        Ok(Err(s)) if s.code() == tonic::Code::Aborted => Ok(format!("no-op ({})", show(&s))),
        Ok(Err(s)) => Err(format!(
            "a dry-run scale failed ({}); with `dry-run = \"true\"` in a policy the agent would \
             log \"failed to scale target\" at every evaluation",
            show(&s)
        )),
        Err(hung) => Err(hung),
    };
    let result = match answered {
        Err(e) => Err(e),
        Ok(how) => match status(client, config).await {
            Ok(s) if s.count == before => Ok(format!("{how}; count stays {before}")),
            Ok(s) => Err(format!(
                "a dry-run scale changed the count from {before} to {}; a dry run must not \
                 change the target",
                s.count
            )),
            Err(e) => Err(e),
        },
    };
    report.record("scale.dry_run", result);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_judgement() {
        let mut s = pb::StatusResponse {
            ready: true,
            count: 3,
            meta: Default::default(),
        };
        assert!(judge_status(&s).is_ok());
        s.meta.insert(
            "nomad_autoscaler.last_event".into(),
            "1700000000000000000".into(),
        );
        assert!(judge_status(&s).is_ok());
        s.meta
            .insert("nomad_autoscaler.last_event".into(), "yesterday".into());
        assert!(judge_status(&s).is_err());
        s.meta.clear();
        s.count = -1;
        assert!(judge_status(&s).is_err());
    }
}

//! APM checks: queries over the agent's window, bad queries, QueryMultiple.

use std::time::SystemTime;

use nomad_plugin_proto::autoscaler::apm as pb;
use nomad_plugin_proto::autoscaler::apm::apm_plugin_service_client::ApmPluginServiceClient;
use nomad_plugin_sdk::autoscaler::{TimeRange, TimestampedMetric};
use nomad_plugin_sdk::host::autoscaler as wire;

use super::load::Loaded;
use super::{call, show, AutoscalerSuite};
use crate::report::SuiteReport;

/// The window the agent asks for: `[now - query_window, now]`, computed
/// right before the call.
fn window(suite: &AutoscalerSuite) -> TimeRange {
    TimeRange::ending_at(SystemTime::now(), suite.query_window)
}

/// What is wrong with a series for the agent, if anything.
pub(crate) fn judge_series(
    points: &[TimestampedMetric],
    range: TimeRange,
    expect_points: bool,
) -> Result<String, String> {
    if points.is_empty() {
        return if expect_points {
            Err(
                "no points; the agent would skip the check with \"no metrics\" at every \
                 evaluation"
                    .into(),
            )
        } else {
            Ok("no points (allowed by this suite)".into())
        };
    }
    if let Some(i) = points
        .windows(2)
        .position(|w| w[1].timestamp < w[0].timestamp)
    {
        return Err(format!(
            "points are not in time order (point {} is older than point {i}); the agent \
             re-sorts them, but QueryMultiple callers and other hosts take the order as given",
            i + 1
        ));
    }
    if let Some((i, p)) = points
        .iter()
        .enumerate()
        .find(|(_, p)| !range.contains(p.timestamp))
    {
        return Err(format!(
            "point {i} at {} lies outside the requested range [{}, {}]; the agent would take \
             it as a current value and the strategy would act on it",
            unix(p.timestamp),
            unix(range.from),
            unix(range.to)
        ));
    }
    if let Some((i, p)) = points
        .iter()
        .enumerate()
        .find(|(_, p)| !p.value.is_finite())
    {
        return Err(format!(
            "point {i} has value {}; a strategy such as target-value would compute a \
             meaningless count from it",
            p.value
        ));
    }
    let newest = points.last().map_or(0.0, |p| p.value);
    Ok(format!(
        "{} point(s), sorted, inside [{}, {}], newest value {newest}",
        points.len(),
        unix(range.from),
        unix(range.to)
    ))
}

fn unix(t: SystemTime) -> String {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => format!("{:.3}", d.as_secs_f64()),
        Err(e) => format!("-{:.3}", e.duration().as_secs_f64()),
    }
}

pub(crate) async fn run(suite: &AutoscalerSuite, loaded: &Loaded, report: &mut SuiteReport) {
    let mut apm = ApmPluginServiceClient::new(loaded.channel());
    if suite.queries.is_empty() {
        report.skip(
            "query",
            "no queries given to the suite (AutoscalerSuite::query)",
        );
    }
    for q in &suite.queries {
        let range = window(suite);
        let name = format!("query[{q}]");
        let request = pb::QueryRequest {
            query: q.clone(),
            time_range: Some(wire::range_to_wire(range)),
        };
        let result = match call("Query", apm.query(request)).await {
            Ok(Ok(resp)) => judge_series(
                &wire::metrics_from_wire(&resp.timestamped_metric),
                range,
                suite.expect_points,
            ),
            Ok(Err(status)) => Err(format!(
                "failed ({}); the agent would log \"failed to query source\" and skip the check",
                show(&status)
            )),
            Err(hung) => Err(hung),
        };
        report.record(name, result);
    }
    for q in &suite.bad_queries {
        let range = window(suite);
        let request = pb::QueryRequest {
            query: q.clone(),
            time_range: Some(wire::range_to_wire(range)),
        };
        let result = match call("Query", apm.query(request)).await {
            Ok(Err(status)) if !status.message().trim().is_empty() => Ok(format!(
                "refused: {} (the operator reads this in the agent's log)",
                show(&status)
            )),
            Ok(Err(status)) => Err(format!(
                "refused with code {:?} but no message; the operator sees no reason in the \
                 agent's log",
                status.code()
            )),
            Ok(Ok(resp)) => Err(format!(
                "answered {} point(s) instead of an error; the operator would see \"no \
                 metrics\" or wrong scaling instead of a reason to fix the query",
                resp.timestamped_metric.len()
            )),
            Err(hung) => Err(hung),
        };
        report.record(format!("bad_query[{q}]"), result);
    }
    match suite.queries.first() {
        None => report.skip("query_multiple", "no queries given to the suite"),
        Some(q) => {
            let range = window(suite);
            let request = pb::QueryMultipleRequest {
                query: q.clone(),
                time_range: Some(wire::range_to_wire(range)),
            };
            match call("QueryMultiple", apm.query_multiple(request)).await {
                Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => report.skip(
                    "query_multiple",
                    format!(
                        "not offered ({}); only Dynamic Application Sizing calls it",
                        show(&status)
                    ),
                ),
                Ok(Err(status)) => {
                    report.record(
                        "query_multiple",
                        Err(format!(
                            "QueryMultiple[{q}] failed ({}); Dynamic Application Sizing would \
                             get no recommendation",
                            show(&status)
                        )),
                    );
                }
                Ok(Ok(resp)) => {
                    let mut result = Ok(format!("{} series", resp.timestamped_metric.len()));
                    for (i, series) in resp.timestamped_metric.iter().enumerate() {
                        let points = wire::metrics_from_wire(&series.timestamped_metric);
                        if let Err(e) = judge_series(&points, range, false) {
                            result = Err(format!("series {i}: {e}"));
                            break;
                        }
                    }
                    report.record("query_multiple", result);
                }
                Err(hung) => {
                    report.record("query_multiple", Err(hung));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn judges_order_range_and_values() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let range = TimeRange::ending_at(t0, Duration::from_secs(60));
        let p = |s: u64, v: f64| TimestampedMetric::new(t0 - Duration::from_secs(s), v);
        assert!(judge_series(&[p(30, 1.0), p(0, 2.0)], range, true).is_ok());
        let e = judge_series(&[p(0, 1.0), p(30, 2.0)], range, true).unwrap_err();
        assert!(e.contains("not in time order"), "{e}");
        let e = judge_series(&[p(61, 1.0)], range, true).unwrap_err();
        assert!(e.contains("outside the requested range"), "{e}");
        let e = judge_series(&[p(1, f64::NAN)], range, true).unwrap_err();
        assert!(e.contains("NaN"), "{e}");
        assert!(judge_series(&[], range, true)
            .unwrap_err()
            .contains("no metrics"));
        assert!(judge_series(&[], range, false).is_ok());
    }
}

//! Conversions between the SDK's types and the autoscaler's wire messages,
//! with the autoscaler's conventions: a missing timestamp is the Unix epoch
//! (what Go's `AsTime` gives for nil), action meta is a JSON object in an
//! `Any` with an empty `type_url`, and direction `UNSPECIFIED` is refused.
// Both directions of every message live here; the host's half (`range_to_wire`,
// `check_to_wire`, ...) is used through `crate::host` only.
#![cfg_attr(not(feature = "host"), allow(dead_code))]

use std::time::{Duration, SystemTime};

use nomad_plugin_proto::autoscaler::shared as pb;
use nomad_plugin_proto::prost_types;

use super::config::ConfigMap;
use super::error::AutoscalerError;
use super::types::{
    ScalingAction, ScalingDirection, ScalingPolicyCheck, ScalingPolicyStrategy, TimeRange,
    TimestampedMetric,
};

/// A wire timestamp as a `SystemTime`; missing means the epoch, and
/// out-of-range values are clamped rather than refused (they only make a
/// range match nothing).
pub fn time_from_wire(ts: Option<&prost_types::Timestamp>) -> SystemTime {
    let Some(ts) = ts else {
        return SystemTime::UNIX_EPOCH;
    };
    let mut ts = *ts;
    ts.normalize();
    if ts.seconds >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(ts.seconds as u64, ts.nanos.max(0) as u32)
    } else {
        // Before the epoch: seconds negative, nanos in [0, 1e9).
        let back = Duration::new(ts.seconds.unsigned_abs(), 0);
        let fwd = Duration::new(0, ts.nanos.max(0) as u32);
        SystemTime::UNIX_EPOCH
            .checked_sub(back)
            .map(|t| t + fwd)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// A `SystemTime` as a wire timestamp.
pub fn time_to_wire(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

/// A wire time range.
pub fn range_from_wire(r: Option<&pb::TimeRange>) -> TimeRange {
    TimeRange {
        from: time_from_wire(r.and_then(|r| r.from.as_ref())),
        to: time_from_wire(r.and_then(|r| r.to.as_ref())),
    }
}

/// A time range on the wire.
pub fn range_to_wire(r: TimeRange) -> pb::TimeRange {
    pb::TimeRange {
        from: Some(time_to_wire(r.from)),
        to: Some(time_to_wire(r.to)),
    }
}

/// Wire samples.
pub fn metrics_from_wire(m: &[pb::TimestampedMetric]) -> Vec<TimestampedMetric> {
    m.iter()
        .map(|m| TimestampedMetric {
            timestamp: time_from_wire(m.timestamp.as_ref()),
            value: m.value,
        })
        .collect()
}

/// Samples on the wire.
pub fn metrics_to_wire(m: &[TimestampedMetric]) -> Vec<pb::TimestampedMetric> {
    m.iter()
        .map(|m| pb::TimestampedMetric {
            timestamp: Some(time_to_wire(m.timestamp)),
            value: m.value,
        })
        .collect()
}

/// A wire direction; `UNSPECIFIED` and unknown numbers are refused with the
/// autoscaler's own words.
pub fn direction_from_wire(d: i32) -> Result<ScalingDirection, AutoscalerError> {
    match pb::ScalingDirection::try_from(d) {
        Ok(pb::ScalingDirection::None) => Ok(ScalingDirection::None),
        Ok(pb::ScalingDirection::Down) => Ok(ScalingDirection::Down),
        Ok(pb::ScalingDirection::Up) => Ok(ScalingDirection::Up),
        Ok(pb::ScalingDirection::Unspecified) | Err(_) => Err(AutoscalerError::InvalidArgument(
            format!("scale direction is unknown: {d}"),
        )),
    }
}

/// A direction on the wire (never `UNSPECIFIED`).
pub fn direction_to_wire(d: ScalingDirection) -> pb::ScalingDirection {
    match d {
        ScalingDirection::None => pb::ScalingDirection::None,
        ScalingDirection::Down => pb::ScalingDirection::Down,
        ScalingDirection::Up => pb::ScalingDirection::Up,
    }
}

/// Action meta from the wire: a JSON object in `Any.value`. Missing meta,
/// or an empty value, is an empty map.
pub fn meta_from_wire(
    any: Option<&prost_types::Any>,
) -> Result<serde_json::Map<String, serde_json::Value>, AutoscalerError> {
    let Some(any) = any else {
        return Ok(Default::default());
    };
    if any.value.is_empty() {
        return Ok(Default::default());
    }
    match serde_json::from_slice::<serde_json::Value>(&any.value) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(AutoscalerError::InvalidArgument(format!(
            "scaling action meta must be a JSON object, got {}",
            json_kind(&other)
        ))),
        Err(e) => Err(AutoscalerError::InvalidArgument(format!(
            "scaling action meta is not JSON: {e}"
        ))),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Action meta on the wire: absent when empty, else the JSON object in
/// `Any.value` with an empty `type_url`, as the autoscaler encodes it.
pub fn meta_to_wire(meta: &serde_json::Map<String, serde_json::Value>) -> Option<prost_types::Any> {
    if meta.is_empty() {
        return None;
    }
    // Serialising a map of JSON values cannot fail.
    let value = serde_json::to_vec(meta).unwrap_or_else(|_| b"{}".to_vec());
    Some(prost_types::Any {
        type_url: String::new(),
        value,
    })
}

/// A wire action (as a target receives it).
pub fn action_from_wire(a: Option<&pb::ScalingAction>) -> Result<ScalingAction, AutoscalerError> {
    let Some(a) = a else {
        return Err(AutoscalerError::InvalidArgument(
            "the request carries no scaling action".into(),
        ));
    };
    Ok(ScalingAction {
        count: a.count,
        reason: a.reason.clone(),
        error: a.error,
        direction: direction_from_wire(a.direction)?,
        meta: meta_from_wire(a.meta.as_ref())?,
    })
}

/// An action on the wire.
pub fn action_to_wire(a: &ScalingAction) -> pb::ScalingAction {
    pb::ScalingAction {
        count: a.count,
        reason: a.reason.clone(),
        error: a.error,
        direction: direction_to_wire(a.direction) as i32,
        meta: meta_to_wire(&a.meta),
    }
}

/// A wire policy check (missing parts are empty, as in Go).
pub fn check_from_wire(c: Option<&pb::ScalingPolicyCheck>) -> ScalingPolicyCheck {
    let Some(c) = c else {
        return ScalingPolicyCheck::default();
    };
    let query_window = c
        .query_window
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(Duration::ZERO);
    ScalingPolicyCheck {
        name: c.name.clone(),
        source: c.source.clone(),
        query: c.query.clone(),
        query_window,
        strategy: ScalingPolicyStrategy {
            name: c
                .strategy
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            config: c
                .strategy
                .as_ref()
                .map(|s| ConfigMap::from(s.config.clone()))
                .unwrap_or_default(),
        },
    }
}

/// A policy check on the wire.
pub fn check_to_wire(c: &ScalingPolicyCheck) -> pb::ScalingPolicyCheck {
    pb::ScalingPolicyCheck {
        name: c.name.clone(),
        source: c.source.clone(),
        query: c.query.clone(),
        query_window: prost_types::Duration::try_from(c.query_window).ok(),
        strategy: Some(pb::ScalingPolicyStrategy {
            name: c.strategy.name.clone(),
            config: c.strategy.config.clone().into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_missing_is_epoch() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(time_from_wire(Some(&time_to_wire(t))), t);
        assert_eq!(time_from_wire(None), SystemTime::UNIX_EPOCH);
        let before = prost_types::Timestamp {
            seconds: -2,
            nanos: 500_000_000,
        };
        assert_eq!(
            time_from_wire(Some(&before)),
            SystemTime::UNIX_EPOCH - Duration::from_millis(1500)
        );
        let r = range_from_wire(None);
        assert_eq!(
            (r.from, r.to),
            (SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH)
        );
    }

    #[test]
    fn meta_is_json_in_any_value_with_empty_type_url() {
        let a = ScalingAction::scale(4, ScalingDirection::Up, "busy").with_meta("k", 1);
        let w = action_to_wire(&a);
        let any = w.meta.clone().expect("meta");
        assert_eq!(any.type_url, "");
        assert_eq!(any.value, br#"{"k":1}"#);
        assert_eq!(w.direction, pb::ScalingDirection::Up as i32);
        assert_eq!(action_from_wire(Some(&w)), Ok(a));
        // No meta: nothing on the wire.
        assert_eq!(action_to_wire(&ScalingAction::none("x")).meta, None);
    }

    #[test]
    fn bad_meta_and_unspecified_direction_are_refused() {
        let mut w = action_to_wire(&ScalingAction::none("x"));
        w.direction = pb::ScalingDirection::Unspecified as i32;
        assert!(action_from_wire(Some(&w)).is_err());
        w.direction = 42;
        assert!(action_from_wire(Some(&w)).is_err());
        w.direction = pb::ScalingDirection::None as i32;
        for bad in [&b"[1]"[..], b"not json", b"\"s\""] {
            w.meta = Some(prost_types::Any {
                type_url: String::new(),
                value: bad.to_vec(),
            });
            assert!(action_from_wire(Some(&w)).is_err(), "{bad:?}");
        }
        w.meta = Some(prost_types::Any::default());
        assert!(action_from_wire(Some(&w)).expect("empty").meta.is_empty());
        assert!(action_from_wire(None).is_err());
    }

    #[test]
    fn checks_round_trip() {
        let c = ScalingPolicyCheck {
            name: "cpu".into(),
            source: "procfs".into(),
            query: "cpu_percent".into(),
            query_window: Duration::from_secs(60),
            strategy: ScalingPolicyStrategy {
                name: "target-value".into(),
                config: [("target", "70")].into_iter().collect(),
            },
        };
        assert_eq!(check_from_wire(Some(&check_to_wire(&c))), c);
        let mut w = check_to_wire(&c);
        w.query_window = Some(prost_types::Duration {
            seconds: -5,
            nanos: 0,
        });
        assert_eq!(check_from_wire(Some(&w)).query_window, Duration::ZERO);
        assert_eq!(check_from_wire(None), ScalingPolicyCheck::default());
    }
}

//! Plain sentences for what a driver answered, for check details a
//! reviewer reads: never Rust's `Debug` output of a wire message.

use nomad_plugin_proto::nomad::drivers as pb;
use nomad_plugin_proto::prost_types::Timestamp;

/// `exit code 3`, `signal 9 (exit code 137)`, `exit code 137, OOM killed`.
pub(crate) fn exit(r: &pb::ExitResult) -> String {
    let mut s = if r.signal != 0 {
        format!("signal {} (exit code {})", r.signal, r.exit_code)
    } else {
        format!("exit code {}", r.exit_code)
    };
    if r.oom_killed {
        s.push_str(", OOM killed");
    }
    s
}

/// An optional exit result, with the wait's error if any.
pub(crate) fn wait_answer(r: Option<&pb::ExitResult>, err: &str) -> String {
    let mut s = r.map(exit).unwrap_or_else(|| "no result".into());
    if !err.is_empty() {
        s.push_str(&format!(" and the error {err:?}"));
    }
    s
}

/// A timestamp as RFC 3339, or what is wrong with it.
pub(crate) fn timestamp(t: &Timestamp) -> String {
    match super::harness::time(t) {
        Some(at) => humantime::format_rfc3339_nanos(at).to_string(),
        None if t.seconds == -62_135_596_800 => "Go's zero time".into(),
        None => format!("an invalid time ({} s, {} ns)", t.seconds, t.nanos),
    }
}

/// Bytes in binary units: `3.1 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `CPU 1.2 % (user 0.8 %, system 0.4 %), memory RSS 3.1 MiB`; what was
/// not measured is left out.
pub(crate) fn usage(u: Option<&pb::TaskResourceUsage>) -> String {
    let Some(u) = u else {
        return "no usage".into();
    };
    let mut parts = Vec::new();
    if let Some(c) = &u.cpu {
        parts.push(format!(
            "CPU {:.1} % (user {:.1} %, system {:.1} %, {:.0} ticks)",
            c.percent, c.user_mode, c.system_mode, c.total_ticks
        ));
    }
    if let Some(m) = &u.memory {
        let mut mem = format!("memory RSS {}", bytes(m.rss));
        if m.usage > 0 {
            mem.push_str(&format!(", usage {}", bytes(m.usage)));
        }
        if m.swap > 0 {
            mem.push_str(&format!(", swap {}", bytes(m.swap)));
        }
        parts.push(mem);
    }
    if parts.is_empty() {
        "neither CPU nor memory".into()
    } else {
        parts.join("; ")
    }
}

/// Process ids: `pids 123, 456`.
pub(crate) fn pids(p: &[i32]) -> String {
    if p.is_empty() {
        return "no processes".into();
    }
    let list: Vec<String> = p.iter().map(i32::to_string).collect();
    format!(
        "{} {}",
        if p.len() == 1 { "pid" } else { "pids" },
        list.join(", ")
    )
}

/// A task event: `"Downloading image" for task "web" of alloc 1234 (no task_id)`.
pub(crate) fn event(e: &pb::DriverTaskEvent) -> String {
    let mut missing = Vec::new();
    for (name, v) in [
        ("task_id", &e.task_id),
        ("alloc_id", &e.alloc_id),
        ("task_name", &e.task_name),
    ] {
        if v.is_empty() {
            missing.push(name);
        }
    }
    format!(
        "{:?} for task {:?} of alloc {:?}{}",
        e.message,
        e.task_name,
        e.alloc_id,
        if missing.is_empty() {
            String::new()
        } else {
            format!(" (no {})", missing.join(", "))
        }
    )
}

/// An InspectTask answer: `task state RUNNING, started 2026-..., no exit yet`.
pub(crate) fn status(r: &pb::InspectTaskResponse) -> String {
    let Some(t) = &r.task else {
        return "no task".into();
    };
    let state = pb::TaskState::try_from(t.state)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| format!("unknown ({})", t.state));
    format!(
        "task state {state}, started {}, completed {}, {}",
        t.started_at
            .as_ref()
            .map(timestamp)
            .unwrap_or_else(|| "never".into()),
        t.completed_at
            .as_ref()
            .map(timestamp)
            .unwrap_or_else(|| "never".into()),
        t.result
            .as_ref()
            .map(exit)
            .unwrap_or_else(|| "no result".into())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sentences_not_debug() {
        let e = pb::ExitResult {
            exit_code: 137,
            signal: 9,
            oom_killed: true,
        };
        assert_eq!(exit(&e), "signal 9 (exit code 137), OOM killed");
        assert_eq!(
            wait_answer(None, "gone"),
            "no result and the error \"gone\""
        );
        let u = pb::TaskResourceUsage {
            cpu: Some(pb::CpuUsage {
                percent: 1.25,
                user_mode: 1.0,
                system_mode: 0.25,
                total_ticks: 30.0,
                ..Default::default()
            }),
            memory: Some(pb::MemoryUsage {
                rss: 3 * 1024 * 1024 + 100 * 1024,
                ..Default::default()
            }),
        };
        let text = usage(Some(&u));
        assert_eq!(
            text,
            "CPU 1.2 % (user 1.0 %, system 0.2 %, 30 ticks); memory RSS 3.1 MiB"
        );
        assert!(!text.contains('{') && !text.contains("Some("), "{text}");
        assert_eq!(pids(&[1, 2]), "pids 1, 2");
        assert_eq!(
            timestamp(&Timestamp {
                seconds: -62_135_596_800,
                nanos: 0
            }),
            "Go's zero time"
        );
        assert_eq!(
            timestamp(&Timestamp {
                seconds: 0,
                nanos: 0
            }),
            "1970-01-01T00:00:00.000000000Z"
        );
    }
}

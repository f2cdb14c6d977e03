//! CPU and memory of a task's cgroup, in Nomad's terms, with the fields
//! Nomad's executor reports as measured on each cgroup version.

use std::path::Path;
use std::time::Instant;

use super::files;
use crate::driver::{CpuUsage, MemoryUsage, TaskResourceUsage};

/// Cumulative counters read from a cgroup at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sample {
    /// CPU time in user and kernel mode, and total, in nanoseconds.
    pub user_ns: Option<u64>,
    pub system_ns: Option<u64>,
    pub total_ns: Option<u64>,
    pub throttled_periods: Option<u64>,
    pub throttled_ns: Option<u64>,
    pub memory: MemoryUsage,
}

fn user_hz() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// cgroup v1: `cpuacct.stat` (USER_HZ ticks), `cpuacct.usage` (ns),
/// `cpu.stat` (throttling, ns), `memory.stat` and the `memory.*usage*`
/// files (bytes).
pub(crate) fn sample_v1(
    cpuacct: Option<&Path>,
    cpu: Option<&Path>,
    memory: Option<&Path>,
) -> Sample {
    let mut s = Sample::default();
    if let Some(d) = cpuacct {
        if let Some(stat) = files::read_keyed(d, "cpuacct.stat") {
            let ns_per_tick = 1_000_000_000 / user_hz();
            s.user_ns = stat.get("user").map(|t| t * ns_per_tick);
            s.system_ns = stat.get("system").map(|t| t * ns_per_tick);
        }
        s.total_ns = files::read_u64(d, "cpuacct.usage");
    }
    if let Some(stat) = cpu.and_then(|d| files::read_keyed(d, "cpu.stat")) {
        s.throttled_periods = stat.get("nr_throttled").copied();
        s.throttled_ns = stat.get("throttled_time").copied();
    }
    if let Some(d) = memory {
        let stat = files::read_keyed(d, "memory.stat").unwrap_or_default();
        s.memory = MemoryUsage {
            rss: stat.get("total_rss").or(stat.get("rss")).copied(),
            cache: stat.get("total_cache").or(stat.get("cache")).copied(),
            // Present only with swap accounting; Nomad reports 0 then.
            swap: Some(
                stat.get("total_swap")
                    .or(stat.get("swap"))
                    .copied()
                    .unwrap_or(0),
            ),
            usage: files::read_u64(d, "memory.usage_in_bytes"),
            max_usage: files::read_u64(d, "memory.max_usage_in_bytes"),
            kernel_usage: files::read_u64(d, "memory.kmem.usage_in_bytes"),
            kernel_max_usage: files::read_u64(d, "memory.kmem.max_usage_in_bytes"),
        };
    }
    s
}

/// cgroup v2: `cpu.stat` (µs; always there, throttling only with the cpu
/// controller), `memory.stat` (`anon` as RSS, `file` as cache),
/// `memory.current`, `memory.peak`, `memory.swap.current` (bytes).
pub(crate) fn sample_v2(dir: Option<&Path>) -> Sample {
    let mut s = Sample::default();
    let Some(d) = dir else { return s };
    if let Some(stat) = files::read_keyed(d, "cpu.stat") {
        s.user_ns = stat.get("user_usec").map(|u| u * 1000);
        s.system_ns = stat.get("system_usec").map(|u| u * 1000);
        s.total_ns = stat.get("usage_usec").map(|u| u * 1000);
        s.throttled_periods = stat.get("nr_throttled").copied();
        s.throttled_ns = stat.get("throttled_usec").map(|u| u * 1000);
    }
    if let Some(stat) = files::read_keyed(d, "memory.stat") {
        s.memory = MemoryUsage {
            rss: stat.get("anon").copied(),
            cache: stat.get("file").copied(),
            swap: Some(files::read_u64(d, "memory.swap.current").unwrap_or(0)),
            usage: files::read_u64(d, "memory.current"),
            max_usage: files::read_u64(d, "memory.peak"),
            ..Default::default()
        };
    }
    s
}

/// Turns cumulative CPU counters into the percentages Nomad shows, from
/// the difference between two samples.
#[derive(Debug, Default)]
pub(crate) struct CpuSampler {
    last: Option<(Instant, Sample)>,
}

impl CpuSampler {
    /// Usage from `now` (read at `at`) against the previous call; `mhz`
    /// is one core's speed, Nomad's unit for CPU.
    pub(crate) fn usage(&mut self, now: Sample, at: Instant, mhz: f64) -> TaskResourceUsage {
        let pct = |cur: Option<u64>, prev: Option<u64>, secs: f64| -> Option<f64> {
            let cur = cur?;
            if secs <= 0.0 {
                return Some(0.0);
            }
            let prev = prev.unwrap_or(cur);
            Some(cur.saturating_sub(prev) as f64 / 1e9 / secs * 100.0)
        };
        let (prev, secs) = match &self.last {
            Some((t, p)) => (Some(p), at.duration_since(*t).as_secs_f64()),
            None => (None, 0.0),
        };
        let user = pct(now.user_ns, prev.and_then(|p| p.user_ns), secs);
        let system = pct(now.system_ns, prev.and_then(|p| p.system_ns), secs);
        let percent = pct(now.total_ns, prev.and_then(|p| p.total_ns), secs)
            .or_else(|| Some(user? + system?));
        let cpu = CpuUsage {
            user_mode: user,
            system_mode: system,
            percent,
            total_ticks: percent.map(|p| p / 100.0 * mhz),
            throttled_periods: now.throttled_periods,
            throttled_time: now.throttled_ns,
        };
        let memory = now.memory.clone();
        self.last = Some((at, now));
        TaskResourceUsage {
            cpu,
            memory,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn percentages_from_two_samples() {
        let mut s = CpuSampler::default();
        let t0 = Instant::now();
        let a = Sample {
            user_ns: Some(1_000_000_000),
            system_ns: Some(0),
            total_ns: Some(1_000_000_000),
            ..Default::default()
        };
        let first = s.usage(a, t0, 2000.0);
        assert_eq!(first.cpu.percent, Some(0.0));
        let b = Sample {
            user_ns: Some(1_500_000_000),
            system_ns: Some(250_000_000),
            total_ns: Some(1_750_000_000),
            throttled_periods: Some(3),
            ..Default::default()
        };
        let u = s.usage(b, t0 + Duration::from_secs(1), 2000.0);
        assert_eq!(u.cpu.user_mode, Some(50.0));
        assert_eq!(u.cpu.system_mode, Some(25.0));
        assert_eq!(u.cpu.percent, Some(75.0));
        assert_eq!(u.cpu.total_ticks, Some(1500.0));
        assert_eq!(u.cpu.throttled_periods, Some(3));
    }

    #[test]
    fn v2_files_of_a_fake_cgroup() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cpu.stat"), "usage_usec 30\nuser_usec 20\nsystem_usec 10\nnr_periods 4\nnr_throttled 2\nthrottled_usec 7\n").unwrap();
        std::fs::write(
            d.path().join("memory.stat"),
            "anon 4096\nfile 8192\nkernel 1\n",
        )
        .unwrap();
        std::fs::write(d.path().join("memory.current"), "16384\n").unwrap();
        std::fs::write(d.path().join("memory.peak"), "32768\n").unwrap();
        let s = sample_v2(Some(d.path()));
        assert_eq!(
            (s.user_ns, s.system_ns, s.total_ns),
            (Some(20_000), Some(10_000), Some(30_000))
        );
        assert_eq!(
            (s.throttled_periods, s.throttled_ns),
            (Some(2), Some(7_000))
        );
        assert_eq!(s.memory.rss, Some(4096));
        assert_eq!(s.memory.cache, Some(8192));
        assert_eq!(s.memory.usage, Some(16384));
        assert_eq!(s.memory.max_usage, Some(32768));
        assert_eq!(s.memory.swap, Some(0));
    }
}

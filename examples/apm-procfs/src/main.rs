//! `apm-procfs`: a Nomad Autoscaler APM plugin that answers queries about
//! the host it runs on (the autoscaler agent's host) from `/proc`.
//!
//! It samples `/proc/loadavg`, `/proc/stat` and `/proc/meminfo` every
//! `sample_interval` into a ring buffer holding `retention` worth of
//! samples, and answers each query from that history. The query syntax is in
//! `src/query.rs`; `docs/src/autoscaler-plugins.md` shows an agent configuration.
//!
//! Config keys (`apm "procfs" { config = { ... } }`):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `sample_interval` | `1s` | time between samples (Go duration, at least `100ms`) |
//! | `retention` | `15m` | how much history is kept (at least one interval) |
//!
//! Time ranges: a query answers the samples taken at or after `from` and at
//! or before `to`, oldest first; an aggregate answers one point stamped
//! with the newest of them. A window with no samples (older than the
//! retention, in the future, or before the first sample) answers no points,
//! which the agent reports as "no metrics". A range whose `from` is after
//! its `to` is refused. `cpu_percent` needs two readings, so the very first
//! sample has no value for it.

mod proc;
mod query;
mod ring;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use nomad_plugin_sdk::autoscaler::prelude::*;

use proc::{CpuTimes, ProcRoot};
use ring::{Ring, Sample};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_RETENTION: Duration = Duration::from_secs(15 * 60);
const MIN_INTERVAL: Duration = Duration::from_millis(100);
const MAX_SAMPLES: usize = 1_000_000;

/// Sampling settings from the plugin config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    interval: Duration,
    retention: Duration,
}

impl Settings {
    fn from_config(config: &ConfigMap) -> Result<Self, AutoscalerError> {
        let interval = config
            .parse_duration("sample_interval")?
            .unwrap_or(DEFAULT_INTERVAL);
        if interval < MIN_INTERVAL {
            return Err(AutoscalerError::config(
                "sample_interval",
                format!("{interval:?} is shorter than the minimum of {MIN_INTERVAL:?}"),
            ));
        }
        let retention = config
            .parse_duration("retention")?
            .unwrap_or(DEFAULT_RETENTION);
        if retention < interval {
            return Err(AutoscalerError::config(
                "retention",
                format!("{retention:?} is shorter than sample_interval ({interval:?})"),
            ));
        }
        Ok(Settings {
            interval,
            retention,
        })
    }

    fn capacity(&self) -> usize {
        let n = self.retention.as_nanos() / self.interval.as_nanos();
        usize::try_from(n)
            .unwrap_or(MAX_SAMPLES)
            .clamp(1, MAX_SAMPLES)
    }
}

/// What the sampler and the queries share.
struct History {
    ring: Ring,
    previous_cpu: Option<CpuTimes>,
}

struct ProcfsApm {
    proc: ProcRoot,
    history: Arc<Mutex<History>>,
    /// The running sampler task and its settings.
    sampler: Mutex<Option<(Settings, tokio::task::JoinHandle<()>)>>,
}

impl ProcfsApm {
    fn new(proc: ProcRoot) -> Self {
        // A first CPU reading, so the first sample can already say how busy
        // the CPUs were since start-up.
        let previous_cpu = proc.read_all().ok().map(|r| r.cpu);
        ProcfsApm {
            proc,
            history: Arc::new(Mutex::new(History {
                ring: Ring::new(
                    Settings::from_config(&ConfigMap::new()).map_or(1, |s| s.capacity()),
                ),
                previous_cpu,
            })),
            sampler: Mutex::new(None),
        }
    }

    /// Takes one sample now.
    fn sample(proc: &ProcRoot, history: &Mutex<History>) -> Result<(), String> {
        let readings = proc.read_all()?;
        let time = SystemTime::now();
        let mut h = history
            .lock()
            .map_err(|_| "sample history lock poisoned".to_string())?;
        let cpu_percent = h
            .previous_cpu
            .and_then(|prev| readings.cpu.busy_percent_since(&prev));
        h.previous_cpu = Some(readings.cpu);
        h.ring.push(Sample {
            time,
            readings,
            cpu_percent,
        });
        Ok(())
    }

    /// (Re)starts sampling with `settings`: one sample right away, so a
    /// query that follows sees data, then one every interval.
    fn start(&self, settings: Settings) -> Result<(), AutoscalerError> {
        let mut sampler = self
            .sampler
            .lock()
            .map_err(|_| AutoscalerError::internal("sampler lock poisoned"))?;
        if let Some((running, handle)) = sampler.as_ref() {
            if *running == settings && !handle.is_finished() {
                return Ok(());
            }
        }
        if let Some((_, handle)) = sampler.take() {
            handle.abort();
        }
        {
            let mut h = self
                .history
                .lock()
                .map_err(|_| AutoscalerError::internal("sample history lock poisoned"))?;
            h.ring.set_capacity(settings.capacity());
        }
        Self::sample(&self.proc, &self.history).map_err(AutoscalerError::unavailable)?;
        let (proc, history) = (self.proc.clone(), self.history.clone());
        let handle = tokio::spawn(async move {
            let first = tokio::time::Instant::now() + settings.interval;
            let mut ticks = tokio::time::interval_at(first, settings.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                if let Err(e) = Self::sample(&proc, &history) {
                    tracing::warn!(error = %e, "sampling /proc failed");
                }
            }
        });
        tracing::info!(
            interval = ?settings.interval,
            retention = ?settings.retention,
            samples = settings.capacity(),
            "sampling /proc"
        );
        *sampler = Some((settings, handle));
        Ok(())
    }

    fn ensure_started(&self) -> Result<(), AutoscalerError> {
        let running = self
            .sampler
            .lock()
            .map(|s| s.is_some())
            .map_err(|_| AutoscalerError::internal("sampler lock poisoned"))?;
        if running {
            return Ok(());
        }
        self.start(Settings::from_config(&ConfigMap::new())?)
    }
}

#[async_trait]
impl Base for ProcfsApm {
    // `name` keeps the SDK default: this binary's file name, which is the
    // `driver` the agent configured.

    async fn set_config(&self, config: ConfigMap) -> Result<(), AutoscalerError> {
        for (key, _) in config.iter() {
            if !matches!(key, "sample_interval" | "retention") && !key.starts_with("nomad_") {
                tracing::warn!(key, "ignoring unknown config key");
            }
        }
        self.start(Settings::from_config(&config)?)
    }
}

#[async_trait]
impl Apm for ProcfsApm {
    async fn query(
        &self,
        text: &str,
        range: TimeRange,
    ) -> Result<Vec<TimestampedMetric>, AutoscalerError> {
        let q = query::parse(text).map_err(|e| AutoscalerError::query(text, e.to_string()))?;
        if range.is_inverted() {
            return Err(AutoscalerError::InvalidArgument(format!(
                "time range starts after it ends (from {}, to {})",
                unix(range.from),
                unix(range.to)
            )));
        }
        self.ensure_started()?;
        let h = self
            .history
            .lock()
            .map_err(|_| AutoscalerError::internal("sample history lock poisoned"))?;
        let points: Vec<TimestampedMetric> = h
            .ring
            .between(range.from, range.to)
            .filter_map(|s| s.value(q.metric).map(|v| TimestampedMetric::new(s.time, v)))
            .collect();
        tracing::debug!(
            query = text,
            points = points.len(),
            held = h.ring.len(),
            "query"
        );
        Ok(match (q.aggregate, points.last()) {
            (Some(agg), Some(last)) => {
                let values: Vec<f64> = points.iter().map(|p| p.value).collect();
                agg.apply(&values)
                    .map(|v| vec![TimestampedMetric::new(last.timestamp, v)])
                    .unwrap_or_default()
            }
            _ => points,
        })
    }
}

/// A time as Unix seconds, for messages.
fn unix(t: SystemTime) -> String {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => format!("{:.3}", d.as_secs_f64()),
        Err(e) => format!("-{:.3}", e.duration().as_secs_f64()),
    }
}

fn main() -> std::process::ExitCode {
    nomad_plugin_sdk::autoscaler::apm::serve(ProcfsApm::new(ProcRoot::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_defaults_and_limits() {
        let s = Settings::from_config(&ConfigMap::new()).expect("defaults");
        assert_eq!(s.capacity(), 900);
        let c: ConfigMap = [("sample_interval", "500ms"), ("retention", "1m")]
            .into_iter()
            .collect();
        assert_eq!(Settings::from_config(&c).expect("valid").capacity(), 120);
        for (k, v) in [
            ("sample_interval", "10ms"),
            ("sample_interval", "fast"),
            ("retention", "10ms"),
        ] {
            let c: ConfigMap = [(k, v)].into_iter().collect();
            let e = Settings::from_config(&c).expect_err("refused");
            assert!(e.to_string().contains(k), "{e}");
        }
    }

    #[tokio::test]
    async fn answers_in_range_sorted_and_refuses_bad_queries() {
        let apm = ProcfsApm::new(ProcRoot::default());
        let before = SystemTime::now();
        apm.set_config(ConfigMap::new()).await.expect("config");
        // A second sample, taken by hand rather than waiting for the timer.
        ProcfsApm::sample(&apm.proc, &apm.history).expect("sample");
        let now = SystemTime::now();
        let range = TimeRange::new(before, now);
        let points = apm.query("memory_percent", range).await.expect("query");
        assert!(points.len() >= 2, "{points:?}");
        assert!(points.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        assert!(points.iter().all(|p| range.contains(p.timestamp)));
        assert!(points.iter().all(|p| (0.0..=100.0).contains(&p.value)));
        let cpu = apm.query("cpu_percent", range).await.expect("query");
        // CPU ticks are coarse (10 ms): over a quick test there may be none.
        assert!(
            cpu.iter().all(|p| (0.0..=100.0).contains(&p.value)),
            "{cpu:?}"
        );
        let max = apm.query("max(load_1)", range).await.expect("query");
        assert_eq!(max.len(), 1);
        assert_eq!(Some(max[0].timestamp), points.last().map(|p| p.timestamp));
        // A window before any sample holds nothing.
        let early = TimeRange::new(
            before - Duration::from_secs(60),
            before - Duration::from_secs(1),
        );
        assert!(apm.query("load_1", early).await.expect("query").is_empty());
        assert!(apm
            .query("avg(load_1)", early)
            .await
            .expect("query")
            .is_empty());
        let e = apm.query("bogus", range).await.expect_err("refused");
        assert!(matches!(e, AutoscalerError::Query { .. }), "{e:?}");
        let e = apm
            .query("load_1", TimeRange::new(now, before))
            .await
            .expect_err("refused");
        assert!(matches!(e, AutoscalerError::InvalidArgument(_)), "{e:?}");
    }

    #[tokio::test]
    async fn unreadable_proc_fails_set_config() {
        let apm = ProcfsApm::new(ProcRoot("/nonexistent-proc".into()));
        let e = apm.set_config(ConfigMap::new()).await.expect_err("refused");
        assert!(matches!(e, AutoscalerError::Unavailable(_)), "{e:?}");
        assert!(e.to_string().contains("/nonexistent-proc/loadavg"), "{e}");
    }
}

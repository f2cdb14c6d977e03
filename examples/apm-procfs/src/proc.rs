//! Reading and parsing the three /proc files the plugin samples. The parse
//! functions take the file's text so they can be tested without a /proc.

use std::path::{Path, PathBuf};

/// Where the files are read from (`/proc`; tests point it elsewhere).
#[derive(Debug, Clone)]
pub struct ProcRoot(pub PathBuf);

impl Default for ProcRoot {
    fn default() -> Self {
        ProcRoot(PathBuf::from("/proc"))
    }
}

impl ProcRoot {
    fn read(&self, name: &str) -> Result<String, String> {
        let path: PathBuf = Path::new(&self.0).join(name);
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }

    /// Reads `loadavg`, `stat` and `meminfo`.
    pub fn read_all(&self) -> Result<Readings, String> {
        Ok(Readings {
            load: parse_loadavg(&self.read("loadavg")?)?,
            cpu: parse_stat(&self.read("stat")?)?,
            memory: parse_meminfo(&self.read("meminfo")?)?,
        })
    }
}

/// One reading of every file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Readings {
    /// Load averages.
    pub load: LoadAvg,
    /// Cumulative CPU time counters.
    pub cpu: CpuTimes,
    /// Memory figures.
    pub memory: Memory,
}

/// `/proc/loadavg`: run-queue averages over 1, 5 and 15 minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAvg {
    /// One minute.
    pub one: f64,
    /// Five minutes.
    pub five: f64,
    /// Fifteen minutes.
    pub fifteen: f64,
}

/// Parses `/proc/loadavg` (`0.52 0.58 0.59 1/467 12345`).
pub fn parse_loadavg(text: &str) -> Result<LoadAvg, String> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>());
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(one)), Some(Ok(five)), Some(Ok(fifteen))) => Ok(LoadAvg { one, five, fifteen }),
        _ => Err(format!(
            "unexpected /proc/loadavg contents {:?}",
            text.trim()
        )),
    }
}

/// The aggregate `cpu` line of `/proc/stat`, in clock ticks since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// Ticks spent doing nothing (`idle` + `iowait`).
    pub idle: u64,
    /// All ticks (every column except `guest` and `guest_nice`, which are
    /// already counted in `user` and `nice`).
    pub total: u64,
}

impl CpuTimes {
    /// Percentage of time busy between `earlier` and `self`, or `None` when
    /// no tick elapsed (or the counters went backwards).
    pub fn busy_percent_since(&self, earlier: &CpuTimes) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let idle = self.idle.checked_sub(earlier.idle)?;
        if total == 0 || idle > total {
            return None;
        }
        Some((total - idle) as f64 * 100.0 / total as f64)
    }
}

/// Parses the first line of `/proc/stat`
/// (`cpu  user nice system idle iowait irq softirq steal guest guest_nice`).
pub fn parse_stat(text: &str) -> Result<CpuTimes, String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| "no aggregate \"cpu\" line in /proc/stat".to_string())?;
    let values: Result<Vec<u64>, _> = line.split_whitespace().skip(1).map(str::parse).collect();
    let values = values.map_err(|e| format!("bad /proc/stat cpu line {line:?}: {e}"))?;
    if values.len() < 4 {
        return Err(format!("short /proc/stat cpu line {line:?}"));
    }
    let idle = values[3] + values.get(4).copied().unwrap_or(0);
    let total = values.iter().take(8).sum();
    Ok(CpuTimes { idle, total })
}

/// Memory figures from `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `MemTotal`.
    pub total: u64,
    /// `MemAvailable`: what can be used without swapping.
    pub available: u64,
}

impl Memory {
    /// Bytes in use (`total - available`).
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.available)
    }

    /// Percentage in use.
    pub fn used_percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        self.used() as f64 * 100.0 / self.total as f64
    }
}

/// Parses `MemTotal` and `MemAvailable` out of `/proc/meminfo` (values in
/// kB there).
pub fn parse_meminfo(text: &str) -> Result<Memory, String> {
    let field = |name: &str| -> Result<u64, String> {
        let line = text
            .lines()
            .find(|l| l.split(':').next() == Some(name))
            .ok_or_else(|| format!("no {name} in /proc/meminfo"))?;
        let kb = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("bad /proc/meminfo line {line:?}"))?;
        Ok(kb.saturating_mul(1024))
    };
    Ok(Memory {
        total: field("MemTotal")?,
        available: field("MemAvailable")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loadavg() {
        let l = parse_loadavg("0.52 0.58 1.59 1/467 12345\n").expect("valid");
        assert_eq!((l.one, l.five, l.fifteen), (0.52, 0.58, 1.59));
        assert!(parse_loadavg("garbage").is_err());
        assert!(parse_loadavg("").is_err());
    }

    #[test]
    fn parses_stat_and_computes_busy_share() {
        let a = parse_stat("cpu  100 0 100 700 100 0 0 0 50 0\ncpu0 1 2 3 4\n").expect("valid");
        assert_eq!(
            a,
            CpuTimes {
                idle: 800,
                total: 1000
            }
        );
        let b = parse_stat("cpu  150 0 150 850 150 0 0 0 60 0\n").expect("valid");
        // 300 more ticks, 200 of them idle or iowait: a third busy.
        assert_eq!(
            b,
            CpuTimes {
                idle: 1000,
                total: 1300
            }
        );
        let busy = b.busy_percent_since(&a).expect("ticks elapsed");
        assert!((busy - 100.0 / 3.0).abs() < 1e-9, "{busy}");
        assert_eq!(a.busy_percent_since(&a), None);
        assert_eq!(a.busy_percent_since(&b), None);
        assert!(parse_stat("intr 1 2 3\n").is_err());
        assert!(parse_stat("cpu  1 x 3 4\n").is_err());
        assert!(parse_stat("cpu  1 2\n").is_err());
    }

    #[test]
    fn parses_meminfo() {
        let m =
            parse_meminfo("MemTotal:       1000 kB\nMemFree:  10 kB\nMemAvailable:    250 kB\n")
                .expect("valid");
        assert_eq!(
            m,
            Memory {
                total: 1_024_000,
                available: 256_000
            }
        );
        assert_eq!(m.used(), 768_000);
        assert!((m.used_percent() - 75.0).abs() < 1e-9);
        assert!(parse_meminfo("MemTotal: 1 kB\n").is_err());
    }

    #[test]
    fn reads_this_machine() {
        // Runs on Linux, where /proc exists.
        let r = ProcRoot::default().read_all().expect("/proc readable");
        assert!(r.memory.total > 0);
        assert!(r.cpu.total > 0);
        assert!(r.load.one >= 0.0);
    }
}

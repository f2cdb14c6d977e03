//! Helpers for drivers that run host processes: signal names, exit
//! statuses, process identity across restarts, `/proc` statistics and
//! Nomad's log FIFOs.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{CpuUsage, ExitResult, MemoryUsage, TaskResourceUsage};

/// Signal names Nomad job files use, with and without the `SIG` prefix.
const SIGNALS: &[(&str, i32)] = &[
    ("SIGABRT", libc::SIGABRT),
    ("SIGALRM", libc::SIGALRM),
    ("SIGBUS", libc::SIGBUS),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGFPE", libc::SIGFPE),
    ("SIGHUP", libc::SIGHUP),
    ("SIGILL", libc::SIGILL),
    ("SIGINT", libc::SIGINT),
    ("SIGIO", libc::SIGIO),
    ("SIGKILL", libc::SIGKILL),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGPROF", libc::SIGPROF),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGSYS", libc::SIGSYS),
    ("SIGTERM", libc::SIGTERM),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
];

/// The number of a signal named as in a job file (`SIGTERM`, `TERM`,
/// `sigterm`) or given as a number (`15`).
///
/// ```
/// use nomad_plugin_sdk::driver::process::signal_number;
/// assert_eq!(signal_number("SIGUSR1"), Some(libc::SIGUSR1));
/// assert_eq!(signal_number("hup"), Some(libc::SIGHUP));
/// assert_eq!(signal_number("9"), Some(9));
/// assert_eq!(signal_number("SIGNOPE"), None);
/// ```
pub fn signal_number(name: &str) -> Option<i32> {
    let name = name.trim();
    if let Ok(n) = name.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    SIGNALS.iter().find(|(n, _)| *n == full).map(|(_, v)| *v)
}

/// The exit result of a finished process, with Go drivers' convention for
/// signals (`exit_code = 128 + signal`).
pub fn exit_result(status: std::process::ExitStatus) -> ExitResult {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitResult::code(code),
        (None, Some(sig)) => ExitResult::signaled(sig),
        (None, None) => ExitResult {
            err: Some(format!("unexpected wait status {status}")),
            ..Default::default()
        },
    }
}

/// Sends `signal` to process group `pgid` (every process of a task started
/// in its own group).
pub fn signal_group(pgid: i32, signal: i32) -> std::io::Result<()> {
    if pgid <= 1 {
        return Err(std::io::Error::other(format!(
            "refusing to signal process group {pgid}"
        )));
    }
    // SAFETY: kill(2) on a negative pid addresses the process group.
    if unsafe { libc::kill(-pgid, signal) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Fields of `/proc/<pid>/stat` after the command name.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// When process `pid` started, in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`). Store it with a pid to tell the same process from a
/// later one that reused the pid.
pub fn process_start_time(pid: i32) -> Option<u64> {
    // After ')' the fields start at field 3 (state): field 22 is index 19.
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Whether `pid` is alive, is the process that started at `start_time`, and
/// is not a zombie.
pub fn same_process_alive(pid: i32, start_time: u64) -> bool {
    match stat_fields(pid) {
        Some(f) => {
            f.first().map(String::as_str) != Some("Z")
                && f.get(19).and_then(|s| s.parse::<u64>().ok()) == Some(start_time)
        }
        None => false,
    }
}

/// Every live process whose process group is `pgid`.
///
/// This reads the `stat` file of every process on the machine; to sample
/// many tasks' groups, [`GroupStats`] shares one such scan between them.
pub fn group_members(pgid: i32) -> Vec<i32> {
    scan_groups().remove(&pgid).unwrap_or_default()
}

/// Every process on the machine by process group: one pass over `/proc`.
fn scan_groups() -> GroupIndex {
    let mut groups = GroupIndex::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return groups;
    };
    for pid in dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        if let Some(pgid) = stat_fields(pid).and_then(|f| f.get(2)?.parse::<i32>().ok()) {
            groups.entry(pgid).or_default().push(pid);
        }
    }
    groups
}

/// How old the shared process-group index may be when a sample uses it.
/// Nomad samples each task once per collection interval (1 s by default);
/// a process that joins a task's group after the last scan is counted at
/// most this much later (the group leader always at once).
const GROUP_INDEX_MAX_AGE: Duration = Duration::from_secs(1);

/// The last pass over `/proc`, shared by every [`GroupStats`] of the
/// process: with one stats stream per task, scanning `/proc` for each
/// sample would cost (tasks × processes) reads per interval.
static GROUP_INDEX: Mutex<Option<(Instant, Arc<GroupIndex>)>> = Mutex::new(None);

/// Process ids by process group.
type GroupIndex = HashMap<i32, Vec<i32>>;

/// Members of group `pgid` from an index at most `GROUP_INDEX_MAX_AGE`
/// old, plus the leader itself. Callers check each pid's group again when
/// they read it, since a pid may have been reused since the scan.
fn group_members_shared(pgid: i32) -> Vec<i32> {
    let index = {
        let mut slot = GROUP_INDEX.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_ref() {
            Some((at, index)) if at.elapsed() < GROUP_INDEX_MAX_AGE => index.clone(),
            _ => {
                // Scanned under the lock: callers arriving meanwhile wait
                // for this scan rather than each making their own.
                let index = Arc::new(scan_groups());
                *slot = Some((Instant::now(), index.clone()));
                index
            }
        }
    };
    let mut members = index.get(&pgid).cloned().unwrap_or_default();
    if !members.contains(&pgid) {
        members.push(pgid);
    }
    members
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    // SAFETY: as above.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// CPU time (user, system) in seconds and RSS in bytes of one process, if
/// it is (still) in process group `pgid`.
fn sample(pid: i32, pgid: i32) -> Option<(f64, f64, u64)> {
    let f = stat_fields(pid)?;
    if f.get(2)?.parse::<i32>().ok()? != pgid {
        return None;
    }
    let hz = ticks_per_second();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let rss_pages: u64 = f.get(21)?.parse().ok()?;
    Some((utime / hz, stime / hz, rss_pages * page_size()))
}

/// Measures a process group's CPU and memory from `/proc`, computing CPU
/// percentages from the difference between two samples.
#[derive(Debug, Default)]
pub struct GroupStats {
    last: BTreeMap<i32, (f64, f64)>,
    last_at: Option<Instant>,
}

impl GroupStats {
    /// A tracker with no previous sample.
    pub fn new() -> Self {
        Self::default()
    }

    /// Samples every process in group `pgid`. CPU percent is relative to
    /// the previous call (zero on the first); `total_ticks` converts it to
    /// MHz using `cpu_mhz` (Nomad's unit for CPU).
    ///
    /// The group's members come from a scan of `/proc` shared by every
    /// tracker in the process and at most a second old, so sampling a
    /// thousand tasks costs one scan per second, not one per task; a
    /// process that joined the group since is counted from the next scan.
    pub fn sample(&mut self, pgid: i32, cpu_mhz: f64) -> TaskResourceUsage {
        let now = Instant::now();
        let elapsed = self
            .last_at
            .map(|t| now.duration_since(t))
            .unwrap_or(Duration::ZERO)
            .as_secs_f64();
        let mut usage = TaskResourceUsage::default();
        let mut current = BTreeMap::new();
        let (mut user_pct, mut sys_pct, mut rss_total) = (0.0, 0.0, 0u64);
        for pid in group_members_shared(pgid) {
            let Some((user, sys, rss)) = sample(pid, pgid) else {
                continue;
            };
            current.insert(pid, (user, sys));
            let (pu, ps) = self.last.get(&pid).copied().unwrap_or((user, sys));
            let (u, s) = if elapsed > 0.0 {
                (
                    ((user - pu).max(0.0) / elapsed) * 100.0,
                    ((sys - ps).max(0.0) / elapsed) * 100.0,
                )
            } else {
                (0.0, 0.0)
            };
            user_pct += u;
            sys_pct += s;
            rss_total += rss;
            usage.by_pid.insert(
                pid.to_string(),
                (
                    cpu(u, s, cpu_mhz),
                    MemoryUsage {
                        rss: Some(rss),
                        ..Default::default()
                    },
                ),
            );
        }
        self.last = current;
        self.last_at = Some(now);
        usage.cpu = cpu(user_pct, sys_pct, cpu_mhz);
        usage.memory = MemoryUsage {
            rss: Some(rss_total),
            ..Default::default()
        };
        usage
    }
}

fn cpu(user: f64, sys: f64, mhz: f64) -> CpuUsage {
    let percent = user + sys;
    CpuUsage {
        user_mode: Some(user),
        system_mode: Some(sys),
        percent: Some(percent),
        total_ticks: Some(percent / 100.0 * mhz),
        ..Default::default()
    }
}

/// The CPU speed of this machine in MHz as `/proc/cpuinfo` reports it
/// (first core), or 1000 when unknown.
///
/// Read once per process and then remembered: drivers call this for every
/// stats sample, and producing `/proc/cpuinfo` is not cheap (on x86 the
/// kernel asks every core for its current frequency). Nomad itself reads
/// the CPU speed once, when it fingerprints the node.
pub fn cpu_mhz() -> f64 {
    static MHZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *MHZ.get_or_init(|| {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("cpu MHz"))
                    .and_then(|l| l.split(':').nth(1))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(1000.0)
    })
}

/// Opens one of Nomad's log FIFOs (`TaskInfo::stdout_path`) for writing.
///
/// Opening a FIFO blocks until its reader (Nomad's log collector) has it
/// open; this waits up to `timeout` without blocking the async runtime.
pub async fn open_log_fifo(path: &Path, timeout: Duration) -> std::io::Result<std::fs::File> {
    let path = path.to_path_buf();
    let open =
        tokio::task::spawn_blocking(move || std::fs::OpenOptions::new().write(true).open(&path));
    match tokio::time::timeout(timeout, open).await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => Err(std::io::Error::other(e)),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "nobody opened the log FIFO for reading in time (is Nomad's log collector running?)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_identity() {
        let me = std::process::id() as i32;
        let start = process_start_time(me).expect("start time");
        assert!(same_process_alive(me, start));
        assert!(!same_process_alive(me, start + 1));
    }

    #[test]
    fn exit_results() {
        use std::os::unix::process::ExitStatusExt;
        let st = std::process::ExitStatus::from_raw(3 << 8);
        assert_eq!(exit_result(st), ExitResult::code(3));
        let killed = std::process::ExitStatus::from_raw(libc::SIGKILL);
        let r = exit_result(killed);
        assert_eq!((r.exit_code, r.signal), (137, 9));
    }

    #[test]
    fn new_group_leader_is_counted_before_the_next_scan() {
        use std::os::unix::process::CommandExt;
        // Fill the shared index first, so the new process is not in it.
        // SAFETY: getpgrp has no preconditions.
        let _ = GroupStats::new().sample(unsafe { libc::getpgrp() }, 2000.0);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .process_group(0)
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let usage = GroupStats::new().sample(pid, 2000.0);
        let _ = child.kill();
        let _ = child.wait();
        assert!(usage.by_pid.contains_key(&pid.to_string()));
    }

    #[test]
    fn stats_of_own_group() {
        // SAFETY: getpgrp has no preconditions.
        let pgid = unsafe { libc::getpgrp() };
        let mut s = GroupStats::new();
        let u = s.sample(pgid, 2000.0);
        assert!(u.memory.rss.unwrap_or(0) > 0);
        assert!(u.by_pid.contains_key(&std::process::id().to_string()));
    }
}

//! One cgroup per task, on cgroup v1 (a directory in each controller's
//! hierarchy) or cgroup v2 (one directory in the unified hierarchy), chosen
//! at run time as Nomad does: v2 when `/sys/fs/cgroup` is a cgroup2 mount,
//! v1 otherwise.
//!
//! The cgroup is the unit of a task: limits are set on it, every process
//! the task starts (setsid and double-forked ones included) stays in it,
//! stats are read from it, and stop/destroy kill everything in it.

mod files;
mod limits;
mod stats;
mod v1;
mod v2;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use limits::Limits;
pub(crate) use stats::CpuSampler;

use super::ExecutorError;

/// Which cgroup version a host (or a task's cgroup) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupVersion {
    /// Separate hierarchies per controller.
    V1,
    /// The unified hierarchy.
    V2,
}

/// This host's cgroups, as the executor uses them.
#[derive(Debug, Clone)]
pub struct CgroupHost {
    inner: Host,
    /// The directory name under each hierarchy that holds the tasks'
    /// cgroups (`nomad-rs`; `nomad-rs.slice` on v2).
    parent: String,
}

#[derive(Debug, Clone)]
enum Host {
    V1(v1::Hierarchies),
    V2(v2::Unified),
}

impl CgroupHost {
    /// Finds this host's cgroup hierarchies from `/proc/self/mountinfo`:
    /// cgroup v2 when `/sys/fs/cgroup` itself is a cgroup2 mount, else the
    /// cgroup v1 hierarchies that are mounted (a "hybrid" host counts as
    /// v1, as in Nomad). Task cgroups go into a `parent` directory of each
    /// hierarchy (`nomad-rs` is a good name).
    pub fn detect(parent: &str) -> Result<Self, ExecutorError> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| ExecutorError::NoCgroups(format!("reading /proc/self/mountinfo: {e}")))?;
        let mounts = parse_mountinfo(&mountinfo);
        let inner = if let Some(m) = mounts
            .iter()
            .find(|m| m.fstype == "cgroup2" && m.mount_point == Path::new("/sys/fs/cgroup"))
        {
            Host::V2(v2::Unified::at(m.mount_point.clone()))
        } else {
            let v1: Vec<(String, PathBuf)> = mounts
                .iter()
                .filter(|m| m.fstype == "cgroup")
                .flat_map(|m| {
                    m.super_options
                        .iter()
                        .filter(|o| v1::CONTROLLERS.contains(&o.as_str()))
                        .map(|o| (o.clone(), m.mount_point.clone()))
                        .collect::<Vec<_>>()
                })
                .collect();
            if v1.is_empty() {
                return Err(ExecutorError::NoCgroups(
                    "neither /sys/fs/cgroup is a cgroup2 mount nor is any cgroup v1 controller mounted"
                        .into(),
                ));
            }
            Host::V1(v1::Hierarchies::new(v1))
        };
        Ok(Self::with(inner, parent))
    }

    /// A cgroup v2 host whose unified hierarchy is mounted at `root` (for a
    /// hierarchy mounted somewhere other than `/sys/fs/cgroup`).
    pub fn v2_at(root: impl Into<PathBuf>, parent: &str) -> Self {
        Self::with(Host::V2(v2::Unified::at(root.into())), parent)
    }

    /// A cgroup v1 host with these `(controller, mount point)` hierarchies.
    pub fn v1_at(hierarchies: Vec<(String, PathBuf)>, parent: &str) -> Self {
        Self::with(Host::V1(v1::Hierarchies::new(hierarchies)), parent)
    }

    fn with(inner: Host, parent: &str) -> Self {
        let parent = match inner {
            Host::V2(_) if !parent.ends_with(".slice") => format!("{parent}.slice"),
            _ => parent.to_string(),
        };
        CgroupHost { inner, parent }
    }

    /// The cgroup version in use.
    pub fn version(&self) -> CgroupVersion {
        match self.inner {
            Host::V1(_) => CgroupVersion::V1,
            Host::V2(_) => CgroupVersion::V2,
        }
    }

    /// The controllers the executor can use here (mounted on v1; available
    /// to delegate on v2).
    pub fn controllers(&self) -> Vec<String> {
        match &self.inner {
            Host::V1(h) => h.controllers(),
            Host::V2(u) => u.controllers(),
        }
    }

    /// The controllers the executor would use but cannot here: limits
    /// that need them fail `StartTask` with a clear error. Show this in the
    /// fingerprint.
    pub fn missing_controllers(&self) -> Vec<&'static str> {
        let have = self.controllers();
        let wanted: &[&'static str] = match self.inner {
            Host::V1(_) => v1::CONTROLLERS,
            Host::V2(_) => v2::CONTROLLERS,
        };
        wanted
            .iter()
            .copied()
            .filter(|c| !have.iter().any(|h| h == c))
            .collect()
    }

    /// Where [`create`](Self::create) would put the cgroup `name`: written
    /// down before it is created, so that whoever cleans up after a crash
    /// finds it.
    pub fn planned(&self, name: &str) -> TaskCgroup {
        match &self.inner {
            Host::V1(h) => h.planned(&self.parent, name),
            Host::V2(u) => u.planned(&self.parent, name),
        }
    }

    /// Creates the cgroup `name` for a task (in each v1 hierarchy, or
    /// `<name>.scope` on v2) and applies `limits`. On any error nothing is
    /// left behind. [`Executor::launch`](super::Executor::launch) calls it;
    /// a driver that runs its own processes can too.
    pub fn create(&self, name: &str, limits: &Limits) -> Result<TaskCgroup, ExecutorError> {
        limits.validate()?;
        match &self.inner {
            Host::V1(h) => h.create(&self.parent, name, limits),
            Host::V2(u) => u.create(&self.parent, name, limits),
        }
    }
}

/// One mount of `/proc/self/mountinfo` that matters here.
#[derive(Debug)]
struct MountEntry {
    mount_point: PathBuf,
    fstype: String,
    super_options: Vec<String>,
}

fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            // `id parent maj:min root mount-point options [optional...] - fstype source super-options`
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let _source = right.next()?;
            let super_options = right
                .next()
                .unwrap_or("")
                .split(',')
                .map(str::to_string)
                .collect();
            Some(MountEntry {
                // mountinfo escapes spaces and the like as octal (`\040`).
                mount_point: PathBuf::from(unescape_octal(mount_point)),
                fstype,
                super_options,
            })
        })
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A task's cgroup: where it is, so that a restarted plugin finds it again
/// from the driver state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCgroup {
    /// The version it lives in.
    pub version: CgroupVersion,
    /// Its directory per controller (v1) or its single directory under
    /// `unified` (v2).
    pub dirs: Vec<(String, PathBuf)>,
}

/// How long stop/destroy wait for a killed cgroup to empty.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(30);

impl TaskCgroup {
    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| c == controller || c == "unified")
            .map(|(_, d)| d.as_path())
    }

    /// The `cgroup.procs` files a process writes itself into to join the
    /// task's cgroup (one per distinct directory).
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .dirs
            .iter()
            .map(|(_, d)| d.join("cgroup.procs"))
            .collect();
        files.sort();
        files.dedup();
        files
    }

    /// Every process in the cgroup now.
    pub fn pids(&self) -> Vec<i32> {
        let dir = self
            .dir("freezer")
            .or_else(|| self.dirs.first().map(|(_, d)| d.as_path()));
        dir.map(files::procs).unwrap_or_default()
    }

    /// Whether the OOM killer killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        match self.version {
            CgroupVersion::V1 => self
                .dir("memory")
                .and_then(|d| files::read_keyed(d, "memory.oom_control"))
                .and_then(|m| m.get("oom_kill").copied())
                .is_some_and(|n| n > 0),
            CgroupVersion::V2 => self
                .dir("unified")
                .and_then(|d| files::read_keyed(d, "memory.events"))
                .and_then(|m| m.get("oom_kill").copied())
                .is_some_and(|n| n > 0),
        }
    }

    /// Kills every process in the cgroup and waits until it is empty:
    /// `cgroup.kill` on v2 where the kernel has it, else freeze, SIGKILL
    /// each member, thaw (so nothing forks in between).
    pub fn kill_all(&self) -> Result<(), ExecutorError> {
        let deadline = Instant::now() + EMPTY_TIMEOUT;
        loop {
            let pids = self.pids();
            if pids.is_empty() {
                return Ok(());
            }
            match self.version {
                CgroupVersion::V2 => v2::kill(self.dir("unified"), &pids),
                CgroupVersion::V1 => v1::kill(self.dir("freezer"), &pids),
            }
            if Instant::now() > deadline {
                return Err(ExecutorError::Timeout(format!(
                    "processes {pids:?} of the task's cgroup survived SIGKILL for {EMPTY_TIMEOUT:?}"
                )));
            }
            // The kernel needs a moment to tear killed processes down.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills what is left and removes the cgroup's directories.
    pub fn remove(&self) -> Result<(), ExecutorError> {
        self.kill_all()?;
        remove_dirs(self.dirs.iter().map(|(_, d)| d.as_path()))
    }

    /// Reads the cgroup's CPU and memory counters.
    pub(crate) fn sample(&self) -> stats::Sample {
        match self.version {
            CgroupVersion::V1 => {
                stats::sample_v1(self.dir("cpuacct"), self.dir("cpu"), self.dir("memory"))
            }
            CgroupVersion::V2 => stats::sample_v2(self.dir("unified")),
        }
    }
}

/// Removes cgroup directories (rmdir: a cgroup directory's files go with
/// it), retrying while the kernel still counts a dying process.
fn remove_dirs<'a>(dirs: impl Iterator<Item = &'a Path>) -> Result<(), ExecutorError> {
    let mut dirs: Vec<&Path> = dirs.collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        let deadline = Instant::now() + EMPTY_TIMEOUT;
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    return Err(ExecutorError::io(
                        format!("removing cgroup {}", dir.display()),
                        e,
                    ))
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_finds_v1_hierarchies_and_the_unified_mount() {
        let text = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory
";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].fstype, "cgroup2");
        assert_eq!(m[2].mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(m[2].super_options.contains(&"cpuacct".to_string()));
        assert_eq!(m[3].mount_point, Path::new("/sys/fs/cgroup/my memory"));
    }
}

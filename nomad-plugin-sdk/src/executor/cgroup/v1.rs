//! cgroup v1: one directory per task in each controller's hierarchy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::files;
use super::limits::Limits;
use super::{remove_dirs, CgroupVersion, TaskCgroup};
use crate::executor::ExecutorError;

/// The v1 controllers the executor uses: limits (memory, cpu, cpuset,
/// pids), accounting (cpuacct) and a race-free kill (freezer).
pub(super) const CONTROLLERS: &[&str] = &["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer"];

#[derive(Debug, Clone)]
pub(super) struct Hierarchies {
    /// `(controller, mount point)`, several controllers may share one.
    mounts: Vec<(String, PathBuf)>,
}

impl Hierarchies {
    pub(super) fn new(mounts: Vec<(String, PathBuf)>) -> Self {
        Hierarchies { mounts }
    }

    pub(super) fn controllers(&self) -> Vec<String> {
        let mut c: Vec<String> = self.mounts.iter().map(|(c, _)| c.clone()).collect();
        c.sort();
        c.dedup();
        c
    }

    fn mount(&self, controller: &str) -> Option<&Path> {
        self.mounts
            .iter()
            .find(|(c, _)| c == controller)
            .map(|(_, m)| m.as_path())
    }

    fn require(&self, controller: &'static str, field: &'static str) -> Result<(), ExecutorError> {
        match self.mount(controller) {
            Some(_) => Ok(()),
            None => Err(ExecutorError::MissingController {
                field,
                controller,
                detail: "cgroup v1: no hierarchy of it is mounted (see /proc/self/mountinfo)"
                    .into(),
            }),
        }
    }

    pub(super) fn planned(&self, parent: &str, name: &str) -> TaskCgroup {
        TaskCgroup {
            version: CgroupVersion::V1,
            dirs: CONTROLLERS
                .iter()
                .filter_map(|c| Some((c.to_string(), self.mount(c)?.join(parent).join(name))))
                .collect(),
        }
    }

    pub(super) fn create(
        &self,
        parent: &str,
        name: &str,
        limits: &Limits,
    ) -> Result<TaskCgroup, ExecutorError> {
        if limits.memory_bytes.is_some() || limits.memory_soft_bytes.is_some() {
            self.require("memory", "resources.memory")?;
        }
        if limits.cpu_shares.is_some() || limits.cpu_quota.is_some() {
            self.require("cpu", "resources.cpu")?;
        }
        if limits.cpuset_cpus.is_some() {
            self.require("cpuset", "resources.cores")?;
        }
        if limits.pids_max.is_some() {
            self.require("pids", "pids_limit")?;
        }
        let mut dirs = Vec::new();
        let result = self.create_dirs(parent, name, limits, &mut dirs);
        let cgroup = TaskCgroup {
            version: CgroupVersion::V1,
            dirs,
        };
        match result {
            Ok(()) => Ok(cgroup),
            Err(e) => {
                let _ = remove_dirs(cgroup.dirs.iter().map(|(_, d)| d.as_path()));
                Err(e)
            }
        }
    }

    fn create_dirs(
        &self,
        parent: &str,
        name: &str,
        limits: &Limits,
        dirs: &mut Vec<(String, PathBuf)>,
    ) -> Result<(), ExecutorError> {
        for controller in CONTROLLERS {
            let Some(mount) = self.mount(controller) else {
                continue;
            };
            let parent_dir = mount.join(parent);
            let dir = parent_dir.join(name);
            // Co-mounted controllers (cpu,cpuacct) share a directory.
            if dirs.iter().any(|(_, d)| *d == dir) {
                dirs.push((controller.to_string(), dir));
                continue;
            }
            if *controller == "cpuset" && !parent_dir.exists() {
                std::fs::create_dir_all(&parent_dir).map_err(|e| {
                    ExecutorError::io(format!("creating {}", parent_dir.display()), e)
                })?;
                // A new cpuset cgroup starts with no cpus and no mems.
                inherit_cpuset(mount, &parent_dir)?;
            }
            std::fs::create_dir_all(&dir)
                .map_err(|e| ExecutorError::io(format!("creating {}", dir.display()), e))?;
            dirs.push((controller.to_string(), dir.clone()));
            match *controller {
                "memory" => set_memory(&dir, limits)?,
                "cpu" => set_cpu(&dir, limits)?,
                "cpuset" => {
                    let available = files::read(&parent_dir, "cpuset.cpus")
                        .map_err(|e| ExecutorError::io("reading the parent's cpuset.cpus", e))?;
                    limits.check_cores(&available)?;
                    let cpus = limits.cpuset_cpus.clone().unwrap_or(available);
                    let mems = files::read(&parent_dir, "cpuset.mems")
                        .map_err(|e| ExecutorError::io("reading the parent's cpuset.mems", e))?;
                    set(&dir, "cpuset.cpus", &cpus, "resources.cores")?;
                    set(&dir, "cpuset.mems", &mems, "resources.cores")?;
                }
                "pids" => {
                    if let Some(p) = limits.pids_max {
                        set(&dir, "pids.max", &p.to_string(), "pids_limit")?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn inherit_cpuset(root: &Path, dir: &Path) -> Result<(), ExecutorError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let value = files::read(root, file)
            .map_err(|e| ExecutorError::io(format!("reading {}", root.join(file).display()), e))?;
        files::write(dir, file, &value)
            .map_err(|e| ExecutorError::io(format!("writing {}", dir.join(file).display()), e))?;
    }
    Ok(())
}

/// Writes a limit, turning the kernel's refusal into an error naming the
/// field.
fn set(dir: &Path, file: &str, value: &str, field: &'static str) -> Result<(), ExecutorError> {
    files::write(dir, file, value).map_err(|e| ExecutorError::Unsatisfiable {
        field,
        message: format!(
            "the kernel refused {value} for {}: {e}",
            dir.join(file).display()
        ),
    })
}

fn set_memory(dir: &Path, limits: &Limits) -> Result<(), ExecutorError> {
    if let Some(hard) = limits.memory_bytes {
        set(
            dir,
            "memory.limit_in_bytes",
            &hard.to_string(),
            "resources.memory",
        )?;
        // Swap would let the task exceed its limit; Nomad disables it.
        // Both files exist only with swap accounting, so failures are fine.
        let _ = files::write(dir, "memory.memsw.limit_in_bytes", &hard.to_string());
        let _ = files::write(dir, "memory.swappiness", "0");
    }
    if let Some(soft) = limits.memory_soft_bytes {
        set(
            dir,
            "memory.soft_limit_in_bytes",
            &soft.to_string(),
            "resources.memory",
        )?;
    }
    Ok(())
}

fn set_cpu(dir: &Path, limits: &Limits) -> Result<(), ExecutorError> {
    if let Some(shares) = limits.cpu_shares {
        set(
            dir,
            "cpu.shares",
            &shares.clamp(2, 262_144).to_string(),
            "resources.cpu",
        )?;
    }
    if let Some((quota, period)) = limits.cpu_quota {
        set(
            dir,
            "cpu.cfs_period_us",
            &period.to_string(),
            "config.cpu_cfs_period",
        )?;
        set(
            dir,
            "cpu.cfs_quota_us",
            &quota.to_string(),
            "config.cpu_hard_limit",
        )?;
    }
    Ok(())
}

/// One round of killing: freeze (so nothing forks while we signal), SIGKILL
/// every member, thaw so the signals are delivered.
pub(super) fn kill(freezer: Option<&Path>, pids: &[i32]) {
    let frozen = freezer.is_some_and(|d| files::write(d, "freezer.state", "FROZEN").is_ok());
    if frozen {
        if let Some(d) = freezer {
            // Freezing completes asynchronously; FREEZING means not yet.
            let deadline = Instant::now() + Duration::from_secs(5);
            while files::read(d, "freezer.state").is_ok_and(|s| s != "FROZEN")
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    let pids = if frozen {
        freezer.map(files::procs).unwrap_or_else(|| pids.to_vec())
    } else {
        pids.to_vec()
    };
    for pid in pids {
        if pid > 1 {
            // SAFETY: kill(2) on a positive pid read from the cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    if let (true, Some(d)) = (frozen, freezer) {
        let _ = files::write(d, "freezer.state", "THAWED");
    }
}

//! cgroup v2: one directory per task in the unified hierarchy, under a
//! parent into whose subtree the controllers are delegated.

use std::path::{Path, PathBuf};

use super::files;
use super::limits::{shares_to_weight, Limits};
use super::{remove_dirs, CgroupVersion, TaskCgroup};
use crate::executor::ExecutorError;

/// The v2 controllers the executor delegates to task cgroups.
pub(super) const CONTROLLERS: &[&str] = &["cpu", "cpuset", "memory", "pids"];

#[derive(Debug, Clone)]
pub(super) struct Unified {
    root: PathBuf,
}

impl Unified {
    pub(super) fn at(root: PathBuf) -> Self {
        Unified { root }
    }

    /// Controllers the root offers (`cgroup.controllers`).
    pub(super) fn controllers(&self) -> Vec<String> {
        files::read(&self.root, "cgroup.controllers")
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }

    pub(super) fn planned(&self, parent: &str, name: &str) -> TaskCgroup {
        TaskCgroup {
            version: CgroupVersion::V2,
            dirs: vec![(
                "unified".into(),
                self.root.join(parent).join(format!("{name}.scope")),
            )],
        }
    }

    pub(super) fn create(
        &self,
        parent: &str,
        name: &str,
        limits: &Limits,
    ) -> Result<TaskCgroup, ExecutorError> {
        let parent_dir = self.root.join(parent);
        if !parent_dir.exists() {
            std::fs::create_dir_all(&parent_dir)
                .map_err(|e| ExecutorError::io(format!("creating {}", parent_dir.display()), e))?;
        }
        // Delegate what we can into the parent, then into its children.
        // A controller the root lacks (or that v1 still holds) stays off;
        // only a limit that needs it is an error.
        let offered = self.controllers();
        let mut enabled = Vec::new();
        for c in CONTROLLERS
            .iter()
            .filter(|c| offered.iter().any(|o| o == *c))
        {
            let on = format!("+{c}");
            if files::write(&self.root, "cgroup.subtree_control", &on).is_ok()
                && files::write(&parent_dir, "cgroup.subtree_control", &on).is_ok()
            {
                enabled.push(*c);
            }
        }
        let need = |c: &'static str, field: &'static str| -> Result<(), ExecutorError> {
            if enabled.contains(&c) {
                return Ok(());
            }
            Err(ExecutorError::MissingController {
                field,
                controller: c,
                detail: format!(
                    "cgroup v2: not delegated to {} ({}/cgroup.controllers lists {:?})",
                    parent_dir.display(),
                    self.root.display(),
                    offered.join(" ")
                ),
            })
        };
        if limits.memory_bytes.is_some() || limits.memory_soft_bytes.is_some() {
            need("memory", "resources.memory")?;
        }
        if limits.cpu_shares.is_some() || limits.cpu_quota.is_some() {
            need("cpu", "resources.cpu")?;
        }
        if limits.cpuset_cpus.is_some() {
            need("cpuset", "resources.cores")?;
        }
        if limits.pids_max.is_some() {
            need("pids", "pids_limit")?;
        }
        let dir = parent_dir.join(format!("{name}.scope"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| ExecutorError::io(format!("creating {}", dir.display()), e))?;
        let cgroup = TaskCgroup {
            version: CgroupVersion::V2,
            dirs: vec![("unified".into(), dir.clone())],
        };
        match apply(&parent_dir, &dir, limits) {
            Ok(()) => Ok(cgroup),
            Err(e) => {
                let _ = remove_dirs(std::iter::once(dir.as_path()));
                Err(e)
            }
        }
    }
}

fn set(dir: &Path, file: &str, value: &str, field: &'static str) -> Result<(), ExecutorError> {
    files::write(dir, file, value).map_err(|e| ExecutorError::Unsatisfiable {
        field,
        message: format!(
            "the kernel refused {value} for {}: {e}",
            dir.join(file).display()
        ),
    })
}

fn apply(parent: &Path, dir: &Path, limits: &Limits) -> Result<(), ExecutorError> {
    if let Some(hard) = limits.memory_bytes {
        set(dir, "memory.max", &hard.to_string(), "resources.memory")?;
        // No swap, as Nomad (the file exists only with swap accounting).
        let _ = files::write(dir, "memory.swap.max", "0");
    }
    if let Some(soft) = limits.memory_soft_bytes {
        set(dir, "memory.low", &soft.to_string(), "resources.memory")?;
    }
    if let Some(shares) = limits.cpu_shares {
        set(
            dir,
            "cpu.weight",
            &shares_to_weight(shares).to_string(),
            "resources.cpu",
        )?;
    }
    if let Some((quota, period)) = limits.cpu_quota {
        set(
            dir,
            "cpu.max",
            &format!("{quota} {period}"),
            "config.cpu_hard_limit",
        )?;
    }
    if limits.cpuset_cpus.is_some() {
        let available = files::read(parent, "cpuset.cpus.effective")
            .map_err(|e| ExecutorError::io("reading the parent's cpuset.cpus.effective", e))?;
        limits.check_cores(&available)?;
        if let Some(cpus) = &limits.cpuset_cpus {
            set(dir, "cpuset.cpus", cpus, "resources.cores")?;
        }
    }
    if let Some(p) = limits.pids_max {
        set(dir, "pids.max", &p.to_string(), "pids_limit")?;
    }
    Ok(())
}

/// One round of killing: `cgroup.kill` (Linux 5.14+) kills every member
/// at once, forks included; without it, freeze, SIGKILL each, thaw.
pub(super) fn kill(dir: Option<&Path>, pids: &[i32]) {
    let Some(dir) = dir else { return };
    if files::write(dir, "cgroup.kill", "1").is_ok() {
        return;
    }
    let frozen = files::write(dir, "cgroup.freeze", "1").is_ok();
    let pids = if frozen {
        files::procs(dir)
    } else {
        pids.to_vec()
    };
    for pid in pids {
        if pid > 1 {
            // SAFETY: kill(2) on a positive pid read from the cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    if frozen {
        let _ = files::write(dir, "cgroup.freeze", "0");
    }
}

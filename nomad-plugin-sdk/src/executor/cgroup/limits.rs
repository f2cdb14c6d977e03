//! The limits a task's cgroup enforces, from Nomad's resources.

use crate::driver::Resources;

use super::super::ExecutorError;

/// The smallest hard memory limit the executor accepts. The kernel takes
/// smaller values, but a task under it cannot even be started (its
/// program's own pages exceed it), so it is refused up front, naming the
/// field. Nomad's own minimum for a task's `memory` is 10 MiB.
pub const MIN_MEMORY_BYTES: u64 = 4 * 1024 * 1024;

/// The CFS period Nomad's exec driver uses by default (µs), and its bounds.
const DEFAULT_CFS_PERIOD_US: u64 = 100_000;
const MIN_CFS_PERIOD_US: u64 = 1_000;
const MAX_CFS_PERIOD_US: u64 = 1_000_000;
/// The smallest quota Nomad sets (µs).
const MIN_CFS_QUOTA_US: u64 = 1_000;

/// What a task's cgroup enforces. `None` leaves the kernel's default (no
/// limit) in place. Build one with [`Limits::from_resources`] or as
/// `Limits { memory_bytes: Some(..), ..Limits::none() }`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Hard memory limit in bytes (`memory.limit_in_bytes` / `memory.max`):
    /// the task is OOM-killed above it.
    pub memory_bytes: Option<u64>,
    /// Soft limit in bytes with memory oversubscription
    /// (`memory.soft_limit_in_bytes` / `memory.low`).
    pub memory_soft_bytes: Option<u64>,
    /// Relative CPU weight in Nomad's MHz shares (`cpu.shares`; converted
    /// to `cpu.weight` on v2).
    pub cpu_shares: Option<u64>,
    /// CPU hard limit: `(quota, period)` in microseconds (`cpu.cfs_*` /
    /// `cpu.max`).
    pub cpu_quota: Option<(u64, u64)>,
    /// Cores the task may run on (`0,1` or `0-3`).
    pub cpuset_cpus: Option<String>,
    /// Most processes and threads the task may have (`pids.max`).
    pub pids_max: Option<u64>,
}

impl Limits {
    /// No limits: the cgroup is used to track, measure and kill only.
    pub fn none() -> Self {
        Self::default()
    }

    /// The limits Nomad's exec driver sets for `resources`: memory (hard
    /// `memory_max` and soft `memory` with oversubscription, else hard
    /// `memory`), CPU shares, reserved cores, and, when `cpu_hard_limit`
    /// is on, a CFS quota of `percent_ticks × period × cores` with `period`
    /// (µs; 0 means Nomad's default of 100 000).
    pub fn from_resources(
        resources: &Resources,
        cpu_hard_limit: bool,
        cfs_period_us: u64,
    ) -> Result<Self, ExecutorError> {
        let hard = resources.memory_hard_limit_bytes();
        let mut limits = Limits {
            memory_bytes: (hard > 0).then_some(hard),
            memory_soft_bytes: resources.memory_soft_limit_bytes(),
            cpu_shares: (resources.cpu_shares > 0).then_some(resources.cpu_shares as u64),
            cpuset_cpus: (!resources.cpuset_cpus.is_empty()).then(|| resources.cpuset_cpus.clone()),
            ..Self::default()
        };
        if cpu_hard_limit {
            if cfs_period_us > MAX_CFS_PERIOD_US {
                return Err(ExecutorError::Unsatisfiable {
                    field: "config.cpu_cfs_period",
                    message: format!("{cfs_period_us} is bigger than {MAX_CFS_PERIOD_US}"),
                });
            }
            let period = match cfs_period_us {
                0 => DEFAULT_CFS_PERIOD_US,
                p => p.max(MIN_CFS_PERIOD_US),
            };
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            let quota = ((resources.percent_ticks * period as f64) as u64 * cores as u64)
                .max(MIN_CFS_QUOTA_US);
            limits.cpu_quota = Some((quota, period));
        }
        Ok(limits)
    }

    /// Sets the pids limit.
    pub fn with_pids_max(mut self, pids: u64) -> Self {
        self.pids_max = Some(pids);
        self
    }

    /// Checks what does not need the host.
    pub(crate) fn validate(&self) -> Result<(), ExecutorError> {
        if let Some(m) = self.memory_bytes {
            if m < MIN_MEMORY_BYTES {
                return Err(ExecutorError::Unsatisfiable {
                    field: "resources.memory",
                    message: format!(
                        "a limit of {m} bytes is below the {} MiB a task needs to start",
                        MIN_MEMORY_BYTES / 1024 / 1024
                    ),
                });
            }
        }
        if let (Some(soft), Some(hard)) = (self.memory_soft_bytes, self.memory_bytes) {
            if soft > hard {
                return Err(ExecutorError::Unsatisfiable {
                    field: "resources.memory_max",
                    message: format!("memory_max ({hard} bytes) is below memory ({soft} bytes)"),
                });
            }
        }
        if let Some(cpus) = &self.cpuset_cpus {
            if super::files::parse_cpu_list(cpus).is_none_or(|c| c.is_empty()) {
                return Err(ExecutorError::Unsatisfiable {
                    field: "resources.cores",
                    message: format!("{cpus:?} is not a list of cores"),
                });
            }
        }
        if self.pids_max == Some(0) {
            return Err(ExecutorError::Unsatisfiable {
                field: "pids_limit",
                message: "0 would not let the task start".into(),
            });
        }
        Ok(())
    }

    /// Checks requested cores against those the parent cgroup has.
    pub(crate) fn check_cores(&self, available: &str) -> Result<(), ExecutorError> {
        let Some(want) = &self.cpuset_cpus else {
            return Ok(());
        };
        let have = super::files::parse_cpu_list(available).unwrap_or_default();
        let want_list = super::files::parse_cpu_list(want).unwrap_or_default();
        if let Some(missing) = want_list.iter().find(|c| !have.contains(c)) {
            return Err(ExecutorError::Unsatisfiable {
                field: "resources.cores",
                message: format!(
                    "core {missing} does not exist on this node (cores available to tasks: {available})"
                ),
            });
        }
        Ok(())
    }
}

/// Nomad's (runc's) mapping of cgroup v1 `cpu.shares` [2, 262144] onto
/// cgroup v2 `cpu.weight` [1, 10000].
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(memory_mb: i64, memory_max_mb: i64) -> Resources {
        Resources {
            memory_mb,
            memory_max_mb,
            cpu_shares: 500,
            percent_ticks: 0.25,
            ..Default::default()
        }
    }

    #[test]
    fn memory_as_nomad_sets_it() {
        let l = Limits::from_resources(&res(256, 0), false, 0).unwrap();
        assert_eq!(l.memory_bytes, Some(256 << 20));
        assert_eq!(l.memory_soft_bytes, None);
        assert_eq!(l.cpu_quota, None);
        let l = Limits::from_resources(&res(256, 512), false, 0).unwrap();
        assert_eq!(
            (l.memory_bytes, l.memory_soft_bytes),
            (Some(512 << 20), Some(256 << 20))
        );
    }

    #[test]
    fn cpu_hard_limit_from_percent_ticks() {
        let cores = std::thread::available_parallelism().unwrap().get() as u64;
        let l = Limits::from_resources(&res(256, 0), true, 0).unwrap();
        assert_eq!(l.cpu_quota, Some((25_000 * cores, 100_000)));
        let l = Limits::from_resources(&res(256, 0), true, 10).unwrap();
        assert_eq!(
            l.cpu_quota,
            Some((((0.25 * 1000.0) as u64 * cores).max(1000), 1000))
        );
        assert!(Limits::from_resources(&res(256, 0), true, 2_000_000).is_err());
    }

    #[test]
    fn bad_limits_name_the_field() {
        let e = Limits::from_resources(&res(1, 0), false, 0)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().starts_with("resources.memory:"), "{e}");
        let l = Limits {
            cpuset_cpus: Some("0,7".into()),
            ..Limits::none()
        };
        let e = l.check_cores("0-1").unwrap_err();
        assert!(e.to_string().contains("core 7 does not exist"), "{e}");
    }

    #[test]
    fn weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
    }
}

//! Reading and writing cgroup interface files: single values and the
//! flat-keyed `key value` files (`memory.stat`, `cpu.stat`,
//! `memory.events`, `memory.oom_control`) of both cgroup versions.
//!
//! The formats are the kernel's (Documentation/admin-guide/cgroup-v2.rst,
//! "Interface Files"; cgroup-v1/memory.rst): small enough that a parser of
//! a dozen lines is clearer than a dependency, and it lets the same code
//! run against a fake tree in tests.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Writes `value` to an existing interface file (never creates one: a
/// missing file means a missing controller, and must fail).
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dir.join(file))?;
    f.write_all(value.as_bytes())
}

/// The trimmed contents of an interface file.
pub(crate) fn read(dir: &Path, file: &str) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(dir.join(file))?.trim().to_string())
}

/// A single unsigned value (`memory.current`, `cpuacct.usage`); `max` reads
/// as `None`.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    parse_u64(&read(dir, file).ok()?)
}

fn parse_u64(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

/// A flat-keyed file: one `key value` pair per line.
pub(crate) fn read_keyed(dir: &Path, file: &str) -> Option<HashMap<String, u64>> {
    Some(parse_keyed(&std::fs::read_to_string(dir.join(file)).ok()?))
}

pub(crate) fn parse_keyed(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let key = words.next()?;
            let value = parse_u64(words.next()?)?;
            Some((key.to_string(), value))
        })
        .collect()
}

/// The pids in a `cgroup.procs` file.
pub(crate) fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// The CPUs of a cpu list (`0-3,6`), or `None` if it is not one.
pub(crate) fn parse_cpu_list(list: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b || b - a > 65_536 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files() {
        let m = parse_keyed("usage_usec 120\nuser_usec 100\nsystem_usec 20\nbogus\nx y\n");
        assert_eq!(m.get("usage_usec"), Some(&120));
        assert_eq!(m.get("system_usec"), Some(&20));
        assert_eq!(m.len(), 3);
        let oom = parse_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        assert_eq!(oom.get("oom_kill"), Some(&2));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("3"), Some(vec![3]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("2-1"), None);
        assert_eq!(parse_cpu_list("a"), None);
    }
}

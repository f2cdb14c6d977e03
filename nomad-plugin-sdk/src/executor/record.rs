//! The task's record directory: files written atomically and durably, so
//! that a crash at any instant leaves either the old or the new version.

use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ExecutorError;

/// The launch spec the supervisor reads (`spec.json`).
pub(crate) const SPEC: &str = "spec.json";
/// Where the task's cgroup is (or will be), written before it is created.
pub(crate) const CGROUP: &str = "cgroup.json";
/// The task's main process, written by the supervisor (`task.json`).
pub(crate) const TASK: &str = "task.json";
/// The exit status the supervisor writes (`exit.json`).
pub(crate) const EXIT: &str = "exit.json";

/// Writes `contents` to `dir/name`: a temp file, fsync'd, renamed over the
/// old one, then the directory fsync'd so the rename itself is durable.
pub(crate) fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Serialises `value` as JSON into `dir/name` atomically.
pub(crate) fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    write_atomic(dir, name, &body)
}

/// Reads `dir/name` as JSON; `Ok(None)` when the file does not exist.
pub(crate) fn read_json<T: DeserializeOwned>(
    dir: &Path,
    name: &str,
) -> Result<Option<T>, ExecutorError> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ExecutorError::Record {
                path: path.display().to_string(),
                message: format!("corrupt: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ExecutorError::Record {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
    }
}

/// How the task ended, as the supervisor records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ExitRecord {
    /// Exit code (`128 + signal` when killed by a signal).
    pub code: i32,
    /// Killing signal, 0 if none.
    pub signal: i32,
    /// The cgroup's OOM-kill counter went up while the task ran.
    #[serde(default)]
    pub oom_killed: bool,
    /// Set when the task could not be started or waited for.
    pub error: Option<String>,
}

impl ExitRecord {
    pub(crate) fn to_result(&self) -> crate::driver::ExitResult {
        crate::driver::ExitResult {
            exit_code: self.code,
            signal: self.signal,
            oom_killed: self.oom_killed,
            err: self.error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        write_json(
            dir.path(),
            EXIT,
            &ExitRecord {
                code: 1,
                signal: 0,
                oom_killed: false,
                error: None,
            },
        )
        .unwrap();
        let rec = ExitRecord {
            code: 137,
            signal: 9,
            oom_killed: true,
            error: None,
        };
        write_json(dir.path(), EXIT, &rec).unwrap();
        assert_eq!(
            read_json::<ExitRecord>(dir.path(), EXIT).unwrap(),
            Some(rec)
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![EXIT.to_string()]);
    }

    #[test]
    fn corrupt_and_missing_records_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_json::<ExitRecord>(dir.path(), EXIT).unwrap().is_none());
        std::fs::write(dir.path().join(EXIT), b"{\"code\":").unwrap();
        let err = read_json::<ExitRecord>(dir.path(), EXIT).unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
}

//! `target-file`: a Nomad Autoscaler target plugin whose "resource" is a
//! count stored in a text file. Something else (a supervisor, a script, a
//! test) reads the file and runs that many workers; the autoscaler keeps it
//! at the right value.
//!
//! Policy `target` block settings:
//!
//! | key | meaning |
//! |---|---|
//! | `path` | the file holding the count (required); relative paths are under the plugin's `base_dir` |
//!
//! Plugin config (`target "file" { config = { ... } }`):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `base_dir` | the plugin's working directory | where relative `path`s live |
//!
//! A missing file means a count of 0. Writes go to a temporary file that
//! is renamed over the old one, so a reader never sees half a number.
//! `Status` reports the file's modification time as
//! `nomad_autoscaler.last_event`, so the agent's cooldown also covers
//! changes made by hand. A scale to the current count, or a dry run, is a
//! no-op (gRPC `ABORTED`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use nomad_plugin_sdk::autoscaler::prelude::*;

struct FileTarget {
    base_dir: Mutex<PathBuf>,
    /// Serialises writes: the agent may scale two policies at once.
    write: tokio::sync::Mutex<()>,
}

impl FileTarget {
    fn new() -> Self {
        FileTarget {
            base_dir: Mutex::new(PathBuf::from(".")),
            write: tokio::sync::Mutex::new(()),
        }
    }

    fn path(&self, config: &ConfigMap) -> Result<PathBuf, AutoscalerError> {
        let path = config
            .get_non_empty("path")
            .ok_or_else(|| AutoscalerError::config("path", "the target block must set `path`"))?;
        let base = self
            .base_dir
            .lock()
            .map_err(|_| AutoscalerError::internal("config lock poisoned"))?;
        Ok(base.join(path))
    }
}

/// The count in `path` and when it last changed; 0 and `None` when the file
/// does not exist.
fn read_count(path: &Path) -> Result<(i64, Option<SystemTime>), AutoscalerError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, None)),
        Err(e) => {
            return Err(AutoscalerError::unavailable(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let count = text.trim().parse::<i64>().map_err(|e| {
        AutoscalerError::internal(format!(
            "{} holds {:?}, not a count: {e}",
            path.display(),
            text.trim()
        ))
    })?;
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok((count, modified))
}

fn write_count(path: &Path, count: i64) -> Result<(), AutoscalerError> {
    let name = path.file_name().ok_or_else(|| {
        AutoscalerError::config("path", format!("{} is not a file", path.display()))
    })?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let fail = |e: std::io::Error| {
        AutoscalerError::unavailable(format!("cannot write {}: {e}", path.display()))
    };
    std::fs::write(&tmp, format!("{count}\n")).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[async_trait]
impl Base for FileTarget {
    async fn set_config(&self, config: ConfigMap) -> Result<(), AutoscalerError> {
        let dir = PathBuf::from(config.get_non_empty("base_dir").unwrap_or("."));
        if !dir.is_dir() {
            return Err(AutoscalerError::config(
                "base_dir",
                format!("{} is not a directory", dir.display()),
            ));
        }
        *self
            .base_dir
            .lock()
            .map_err(|_| AutoscalerError::internal("config lock poisoned"))? = dir;
        Ok(())
    }
}

#[async_trait]
impl Target for FileTarget {
    async fn scale(&self, action: ScalingAction, config: ConfigMap) -> Result<(), AutoscalerError> {
        let path = self.path(&config)?;
        if action.is_dry_run() {
            return Err(AutoscalerError::no_op("dry run: the file is left alone"));
        }
        if action.count < 0 {
            return Err(AutoscalerError::InvalidArgument(format!(
                "cannot scale to a negative count ({})",
                action.count
            )));
        }
        let _guard = self.write.lock().await;
        let (current, _) = read_count(&path)?;
        if current == action.count {
            return Err(AutoscalerError::no_op(format!(
                "{} already holds {current}",
                path.display()
            )));
        }
        write_count(&path, action.count)?;
        tracing::info!(path = %path.display(), from = current, to = action.count, reason = %action.reason, "scaled");
        Ok(())
    }

    async fn status(&self, config: ConfigMap) -> Result<TargetStatus, AutoscalerError> {
        let path = self.path(&config)?;
        let (count, modified) = read_count(&path)?;
        let mut status = TargetStatus::ready(count);
        if let Some(nanos) = modified
            .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_nanos()).ok())
        {
            status = status.with_meta("nomad_autoscaler.last_event", nanos.to_string());
        }
        Ok(status)
    }
}

fn main() -> std::process::ExitCode {
    nomad_plugin_sdk::autoscaler::target::serve(FileTarget::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("target-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[tokio::test]
    async fn scales_and_reports() {
        let dir = temp_dir("scale");
        let t = FileTarget::new();
        t.set_config(
            [("base_dir", dir.to_str().expect("utf-8"))]
                .into_iter()
                .collect(),
        )
        .await
        .expect("config");
        let policy: ConfigMap = [("path", "workers")].into_iter().collect();
        let s = t.status(policy.clone()).await.expect("status");
        assert_eq!((s.ready, s.count), (true, 0));
        assert!(!s.meta.contains_key("nomad_autoscaler.last_event"));
        t.scale(
            ScalingAction::scale(3, ScalingDirection::Up, "busy"),
            policy.clone(),
        )
        .await
        .expect("scale");
        assert_eq!(
            std::fs::read_to_string(dir.join("workers")).expect("file"),
            "3\n"
        );
        let s = t.status(policy.clone()).await.expect("status");
        assert_eq!(s.count, 3);
        let ts: i64 = s.meta["nomad_autoscaler.last_event"]
            .parse()
            .expect("nanos");
        assert!(ts > 0);
        let e = t
            .scale(
                ScalingAction::scale(3, ScalingDirection::Up, "again"),
                policy.clone(),
            )
            .await
            .expect_err("no-op");
        assert!(matches!(e, AutoscalerError::NoOp(_)), "{e:?}");
        let dry = ScalingAction::scale(-1, ScalingDirection::None, "dry")
            .with_meta("nomad_autoscaler.dry_run", true);
        assert!(matches!(
            t.scale(dry, policy.clone()).await,
            Err(AutoscalerError::NoOp(_))
        ));
        assert_eq!(t.status(policy).await.expect("status").count, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn refuses_bad_input() {
        let dir = temp_dir("bad");
        let t = FileTarget::new();
        let e = t.status(ConfigMap::new()).await.expect_err("no path");
        assert!(e.to_string().contains("path"), "{e}");
        let e = t
            .set_config([("base_dir", "/nonexistent-dir")].into_iter().collect())
            .await
            .expect_err("bad dir");
        assert!(e.to_string().contains("base_dir"), "{e}");
        std::fs::write(dir.join("garbage"), "many").expect("write");
        let policy: ConfigMap = [("path", dir.join("garbage").to_str().expect("utf-8"))]
            .into_iter()
            .collect();
        let e = t.status(policy.clone()).await.expect_err("not a count");
        assert!(e.to_string().contains("not a count"), "{e}");
        let e = t
            .scale(ScalingAction::scale(-3, ScalingDirection::Down, ""), policy)
            .await
            .expect_err("negative");
        assert!(matches!(e, AutoscalerError::InvalidArgument(_)), "{e:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

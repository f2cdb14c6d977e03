//! Host volume plugins ("dynamic host volumes", Nomad 1.10+).
//!
//! Nomad runs a host volume plugin as a one-shot executable from the client's
//! `host_volume_plugin_dir`; the file name is the plugin id a volume
//! specification's `plugin_id` selects. Implement [`HostVolume`] and call
//! [`serve`] from `main`:
//!
//! ```no_run
//! use nomad_plugin_sdk::common::{Fingerprint, PluginVersion};
//! use nomad_plugin_sdk::host_volume::{
//!     self, Created, CreateRequest, DeleteRequest, HostVolume, HostVolumeError,
//! };
//!
//! struct Dirs;
//!
//! #[nomad_plugin_sdk::async_trait]
//! impl HostVolume for Dirs {
//!     async fn fingerprint(&self) -> Result<Fingerprint, HostVolumeError> {
//!         Ok(Fingerprint::new(PluginVersion::parse(env!("CARGO_PKG_VERSION"))?))
//!     }
//!
//!     async fn create(&self, req: &CreateRequest) -> Result<Created, HostVolumeError> {
//!         let path = req.default_path();
//!         // Idempotent: Nomad re-runs create on every agent start.
//!         tokio::fs::create_dir_all(&path)
//!             .await
//!             .map_err(|e| HostVolumeError::io(format!("creating {}", path.display()), e))?;
//!         Ok(Created::without_size(path))
//!     }
//!
//!     async fn delete(&self, req: &DeleteRequest) -> Result<(), HostVolumeError> {
//!         // Removes only this volume, and succeeds if it is already gone.
//!         host_volume::remove_volume_path(req)?;
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     host_volume::serve(Dirs)
//! }
//! ```
//!
//! # The contract [`serve`] keeps for you
//!
//! | Nomad does | the SDK |
//! | --- | --- |
//! | runs `<plugin> fingerprint` at agent start and on SIGHUP, kills it after 1 s | prints `{"version": "..."}` (validated) within 800 ms |
//! | runs `<plugin> create` with `DHV_*` variables, reads `{"path", "bytes"}` | parses [`CreateRequest`], refuses to report an empty or relative path |
//! | runs `<plugin> delete`, ignores stdout on success | parses [`DeleteRequest`], prints nothing on success |
//! | shows `{"error": ...}` only when the exit status is **non-zero** | prints `{"error": ...}` and exits 1 for every failure, panic and deadline |
//! | kills with SIGKILL after 60 s (50 s for all restores at agent start) | stops the operation after 45 s with an error |
//! | parses stdout as exactly one JSON value | redirects stray stdout (yours, or a child's such as `mkfs`) to stderr |
//!
//! Logs: the SDK installs a `tracing` subscriber that writes to stderr, which
//! Nomad copies into the agent log (debug level on success, error level on
//! failure). Do not log secrets.
//!
//! # What only you can do
//!
//! * **Idempotent create.** Nomad re-runs `create` with the stored request at
//!   every agent start and with new capacities on update; return the same
//!   path, grow the volume when asked for more, never fail because it exists.
//! * **Crash-safe steps.** Nomad sends SIGKILL without warning; a create
//!   killed half-way will be retried, so each step must be re-runnable.
//! * **Forgiving delete.** Deleting a volume that is already gone must
//!   succeed, or the volume can never leave Nomad's state.
//! * **Narrow delete.** Decide what to remove with
//!   [`DeleteRequest::volume_path`] or [`remove_volume_path`]: Nomad's
//!   automatic delete passes the whole volumes directory as `DHV_CREATED_PATH`.
//! * **No environment.** Nomad passes no `PATH` or `HOME`: run helper programs
//!   by absolute path and keep configuration beside the plugin
//!   ([`CreateRequest::plugin_dir`]).
//! * **Sanitised names.** `DHV_VOLUME_NAME` is user input; pass it through
//!   [`sanitize_name`] before it touches a path.
//! * **Async all the way.** The SDK's deadline only fires at an `.await`: use
//!   `tokio::process`/`tokio::fs` or `spawn_blocking`, not long blocking calls.
//!
//! Install the binary as a real file (not a symlink out of the directory,
//! which Nomad 2.0.1+ refuses) named after the plugin id (not `mkdir`, which
//! is built in), then send the agent SIGHUP.

mod error;
mod request;
mod serve;

use std::path::PathBuf;

pub use crate::common::Fingerprint;
pub use error::HostVolumeError;
pub use request::{env, is_strictly_inside, sanitize_name, CreateRequest, DeleteRequest, VolumeId};
pub use serve::{execute, serve, serve_with_options, ServeOptions};

/// A host volume plugin, in Nomad's words.
///
/// Every method may be called concurrently for different volumes by
/// different processes: keep per-volume state per volume (a lock file under
/// the volumes directory if you share anything).
#[async_trait::async_trait]
pub trait HostVolume: Send + Sync {
    /// Called at agent start and on reload (SIGHUP), never periodically.
    ///
    /// Nomad publishes the version as `plugins.host_volume.<id>.version`; a
    /// volume using this plugin is only placed on nodes that have it. On error
    /// (or after 1 s) Nomad logs it and skips the plugin until the next
    /// reload. Do no I/O here beyond checking that your prerequisites exist.
    async fn fingerprint(&self) -> Result<Fingerprint, HostVolumeError>;

    /// Called by `nomad volume create`, again with the same request at every
    /// agent start, and with new capacities when the volume is updated.
    ///
    /// Nomad stores [`Created::path`] and bind-mounts it into workloads;
    /// [`Created::bytes`] becomes the volume's capacity. On error Nomad fails
    /// the request with your message and never cleans up for you, so remove
    /// anything half-made before returning it.
    async fn create(&self, request: &CreateRequest) -> Result<Created, HostVolumeError>;

    /// Called by `nomad volume delete`, and by Nomad itself after a create
    /// whose result it could not save (see [`DeleteRequest`]).
    ///
    /// Must succeed when the volume does not exist. On error the volume stays
    /// in Nomad's state and the operator sees your message.
    async fn delete(&self, request: &DeleteRequest) -> Result<(), HostVolumeError>;
}

/// A successful create: what Nomad stores for the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The absolute host path Nomad bind-mounts into workloads and passes
    /// back to `delete` as `DHV_CREATED_PATH`.
    pub path: PathBuf,
    /// The volume's actual size in bytes; `0` for an unsized volume (such as
    /// a plain directory).
    pub bytes: u64,
}

impl Created {
    /// A volume of `bytes` bytes at `path`.
    pub fn new(path: impl Into<PathBuf>, bytes: u64) -> Self {
        Self {
            path: path.into(),
            bytes,
        }
    }

    /// A volume without a size (reported as `bytes: 0`, like Nomad's `mkdir`).
    pub fn without_size(path: impl Into<PathBuf>) -> Self {
        Self::new(path, 0)
    }
}

/// Removes the volume a delete names, and nothing else; `Ok(false)` when it
/// was already gone.
///
/// The path comes from [`DeleteRequest::volume_path`], so Nomad's automatic
/// delete (created path = the volumes directory) removes only
/// `$DHV_VOLUMES_DIR/$DHV_VOLUME_ID`. A symbolic link is removed, not
/// followed. Unmount anything mounted there first.
pub fn remove_volume_path(request: &DeleteRequest) -> Result<bool, HostVolumeError> {
    let path = request.volume_path();
    if !is_strictly_inside(&request.volumes_dir, &path) {
        return Err(HostVolumeError::other(format!(
            "refusing to remove {}: it is not inside the volumes directory {}",
            path.display(),
            request.volumes_dir.display()
        )));
    }
    let context = || format!("removing {}", path.display());
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(HostVolumeError::io(context(), e)),
    };
    let removed = if meta.is_dir() {
        std::fs::remove_dir_all(&path)
    } else {
        std::fs::remove_file(&path)
    };
    match removed {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(HostVolumeError::io(context(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Invocation;

    fn delete_req(volumes: &std::path::Path, created: &std::path::Path, id: &str) -> DeleteRequest {
        DeleteRequest::from_invocation(&Invocation::new(
            ["delete"],
            [
                (env::OPERATION, "delete".as_ref()),
                (env::VOLUMES_DIR, volumes.as_os_str()),
                (env::PLUGIN_DIR, "/p".as_ref()),
                (env::VOLUME_ID, id.as_ref()),
                (env::CREATED_PATH, created.as_os_str()),
            ],
        ))
        .unwrap()
    }

    #[test]
    fn auto_delete_removes_only_the_named_volume() {
        let dir = tempfile::tempdir().unwrap();
        let vols = dir.path();
        for id in ["a", "b"] {
            std::fs::create_dir(vols.join(id)).unwrap();
            std::fs::write(vols.join(id).join("data"), id).unwrap();
        }
        let req = delete_req(vols, vols, "a");
        assert!(remove_volume_path(&req).unwrap());
        assert!(!vols.join("a").exists());
        assert_eq!(std::fs::read_to_string(vols.join("b/data")).unwrap(), "b");
        // Already gone: still a success.
        assert!(!remove_volume_path(&req).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_removed_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("v")).unwrap();
        let req = delete_req(dir.path(), &dir.path().join("v"), "v");
        assert!(remove_volume_path(&req).unwrap());
        assert!(outside.path().join("keep").exists());
    }
}

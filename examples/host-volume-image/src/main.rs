//! A reference Nomad host volume plugin.
//!
//! Each volume is an ext4 file system in a sparse image file of the requested
//! capacity, loop-mounted at `$DHV_VOLUMES_DIR/<volume id>`. Re-submitting
//! the volume with a larger `capacity_min` grows the image and the mounted
//! file system online. Where loop devices are unavailable (no root, no
//! `/dev/loop-control`, no free device — typical in containers) volumes are
//! plain directories instead.
//!
//! Parameters (`parameters { ... }` in the volume specification):
//!
//! | key | values | default |
//! | --- | --- | --- |
//! | `backend` | `auto`, `image`, `directory` | `auto`: image where loop devices work |
//!
//! Layout under the volumes directory: `<id>/` (the path Nomad mounts), and
//! `.host-volume-image/<id>.img` and `<id>.lock` (the image and a per-volume
//! lock). Every step is safe to re-run after Nomad kills the plugin.

mod system;

use std::path::{Path, PathBuf};

use nomad_plugin_sdk::common::PluginVersion;
use nomad_plugin_sdk::host_volume::{
    self, CreateRequest, Created, DeleteRequest, Fingerprint, HostVolume, HostVolumeError,
};

use system::{Tools, VolumeLock};

const STATE_DIR: &str = ".host-volume-image";
const MIB: u64 = 1 << 20;
/// Smallest image mkfs.ext4 handles comfortably.
const MIN_IMAGE: u64 = 4 * MIB;
/// Image size when the specification sets no capacity.
const DEFAULT_IMAGE: u64 = 64 * MIB;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Auto,
    Image,
    Directory,
}

fn backend(req: &CreateRequest) -> Result<Backend, HostVolumeError> {
    for (k, v) in &req.parameters {
        if k != "backend" {
            return Err(HostVolumeError::parameter(
                k,
                "unknown parameter; this plugin accepts only \"backend\"",
            ));
        }
        if !matches!(v.as_str(), "auto" | "image" | "directory") {
            return Err(HostVolumeError::parameter(
                k,
                format!("is {v:?}; use \"auto\", \"image\" or \"directory\""),
            ));
        }
    }
    Ok(match req.parameters.get("backend").map(String::as_str) {
        Some("image") => Backend::Image,
        Some("directory") => Backend::Directory,
        _ => Backend::Auto,
    })
}

/// The image size for a request: `capacity_min` (or `capacity_max`, or
/// 64 MiB) rounded up to whole MiB, at least 4 MiB, never above
/// `capacity_max`.
fn image_size(req: &CreateRequest) -> Result<u64, HostVolumeError> {
    let wanted = req
        .capacity_min()
        .or(req.capacity_max())
        .unwrap_or(DEFAULT_IMAGE);
    let mut size = wanted.div_ceil(MIB).saturating_mul(MIB).max(MIN_IMAGE);
    if let Some(max) = req.capacity_max() {
        if req.capacity_min().is_some_and(|min| min > max) {
            return Err(HostVolumeError::Capacity(format!(
                "capacity_min ({}) is larger than capacity_max ({max})",
                req.capacity_min_bytes
            )));
        }
        if size > max {
            size = max / 4096 * 4096;
        }
        if size < MIN_IMAGE {
            return Err(HostVolumeError::Capacity(format!(
                "capacity_max ({max} bytes) is below the 4 MiB this plugin needs for an ext4 file system"
            )));
        }
    }
    Ok(size)
}

struct Paths {
    volume: PathBuf,
    state: PathBuf,
    image: PathBuf,
    partial: PathBuf,
    grow: PathBuf,
    lock: PathBuf,
}

impl Paths {
    fn new(volumes_dir: &Path, volume_path: PathBuf, id: &str) -> Self {
        let state = volumes_dir.join(STATE_DIR);
        Self {
            volume: volume_path,
            image: state.join(format!("{id}.img")),
            partial: state.join(format!("{id}.img.partial")),
            grow: state.join(format!("{id}.grow")),
            lock: state.join(format!("{id}.lock")),
            state,
        }
    }
}

fn io(
    context: impl std::fmt::Display,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> HostVolumeError {
    let context = format!("{context} {}", path.display());
    move |e| HostVolumeError::io(context, e)
}

async fn exists(path: &Path) -> Result<bool, HostVolumeError> {
    tokio::fs::try_exists(path)
        .await
        .map_err(io("checking", path))
}

/// Grows a mounted file system to its (already grown) image: needs
/// CAP_SYS_RESOURCE, which some containers lack.
async fn grow_online(tools: &Tools, device: &str) -> Result<(), HostVolumeError> {
    if !device.starts_with("/dev/loop") {
        return Err(HostVolumeError::other(format!(
            "{device} is not a loop device"
        )));
    }
    system::run(&tools.losetup, &["--set-capacity", device]).await?;
    system::run(&tools.resize2fs, &[device]).await?;
    Ok(())
}

/// Unmounts the volume so it can be grown offline, unless the file system
/// is still mounted elsewhere (a workload's bind mount keeps the loop device
/// attached): then it is mounted back and the grow refused, because resizing
/// a file system in use would corrupt it.
async fn unmount_for_offline_grow(
    tools: &Tools,
    p: &Paths,
    device: &str,
) -> Result<(), HostVolumeError> {
    system::run(&tools.umount, &[&p.volume.to_string_lossy()]).await?;
    let attached = system::run(&tools.losetup, &["-j", &p.image.to_string_lossy()]).await?;
    if attached.trim().is_empty() {
        return Ok(());
    }
    system::run(
        &tools.mount,
        &[
            "-t",
            "ext4",
            "-o",
            "nodev,nosuid",
            device,
            &p.volume.to_string_lossy(),
        ],
    )
    .await?;
    Err(HostVolumeError::Capacity(
        "the file system cannot grow while workloads use the volume (online resize needs CAP_SYS_RESOURCE); stop them and submit the volume again".into(),
    ))
}

struct ImagePlugin;

impl ImagePlugin {
    async fn create_directory(&self, p: &Paths) -> Result<Created, HostVolumeError> {
        use std::os::unix::fs::DirBuilderExt;
        let mut b = std::fs::DirBuilder::new();
        b.mode(0o700);
        match b.create(&p.volume) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("creating", &p.volume)(e)),
        }
        tracing::info!(path = %p.volume.display(), "directory volume ready");
        Ok(Created::without_size(p.volume.clone()))
    }

    async fn create_image(
        &self,
        p: &Paths,
        tools: &Tools,
        size: u64,
    ) -> Result<Created, HostVolumeError> {
        let new_image = !exists(&p.image).await?;
        if new_image {
            // Build the file system under a temporary name and rename it, so
            // an image either is complete or does not exist.
            let _ = tokio::fs::remove_file(&p.partial).await;
            let f = tokio::fs::File::create(&p.partial)
                .await
                .map_err(io("creating", &p.partial))?;
            f.set_len(size).await.map_err(io("sizing", &p.partial))?;
            drop(f);
            let partial = p.partial.to_string_lossy();
            if let Err(e) = system::run(
                &tools.mkfs,
                &["-q", "-F", "-m", "0", "-E", "nodiscard", &partial],
            )
            .await
            {
                let _ = tokio::fs::remove_file(&p.partial).await;
                return Err(e);
            }
            tokio::fs::rename(&p.partial, &p.image)
                .await
                .map_err(io("renaming", &p.partial))?;
        }
        let current = tokio::fs::metadata(&p.image)
            .await
            .map_err(io("reading", &p.image))?
            .len();
        if size > current {
            // The marker survives a SIGKILL between growing the file and
            // growing the file system, so the next create finishes the job.
            tokio::fs::write(&p.grow, b"")
                .await
                .map_err(io("writing", &p.grow))?;
            // Sparse: growing the file costs no disk space until written.
            let f = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&p.image)
                .await
                .map_err(io("opening", &p.image))?;
            f.set_len(size).await.map_err(io("growing", &p.image))?;
        }
        let grow = exists(&p.grow).await?;

        match tokio::fs::create_dir(&p.volume).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("creating", &p.volume)(e)),
        }
        let mut mounted = system::mount_at(&p.volume).await?;
        if grow {
            if let Some(m) = &mounted {
                if let Err(e) = grow_online(tools, &m.source).await {
                    tracing::warn!("online resize failed ({e}); trying offline");
                    unmount_for_offline_grow(tools, p, &m.source).await?;
                    mounted = None;
                }
            }
            if mounted.is_none() {
                let image = p.image.to_string_lossy();
                system::run_accepting(&tools.e2fsck, &["-f", "-p", &image], 1).await?;
                system::run(&tools.resize2fs, &[&image]).await?;
            }
            tokio::fs::remove_file(&p.grow)
                .await
                .map_err(io("removing", &p.grow))?;
        }
        if mounted.is_none() {
            let (image, target) = (p.image.to_string_lossy(), p.volume.to_string_lossy());
            let res = system::run(
                &tools.mount,
                &["-t", "ext4", "-o", "loop,nodev,nosuid", &image, &target],
            )
            .await;
            if let Err(e) = res {
                if new_image {
                    // Nomad never deletes a failed create: undo it.
                    let _ = tokio::fs::remove_dir(&p.volume).await;
                    let _ = tokio::fs::remove_file(&p.image).await;
                }
                return Err(e);
            }
            if system::mount_at(&p.volume).await?.is_none() {
                return Err(HostVolumeError::other(format!(
                    "{} is not mounted after mount succeeded",
                    p.volume.display()
                )));
            }
        }
        let bytes = tokio::fs::metadata(&p.image)
            .await
            .map_err(io("reading", &p.image))?
            .len();
        tracing::info!(path = %p.volume.display(), bytes, grown = grow, "image volume ready");
        Ok(Created::new(p.volume.clone(), bytes))
    }
}

#[nomad_plugin_sdk::async_trait]
impl HostVolume for ImagePlugin {
    async fn fingerprint(&self) -> Result<Fingerprint, HostVolumeError> {
        Ok(Fingerprint::new(PluginVersion::parse(env!(
            "CARGO_PKG_VERSION"
        ))?))
    }

    async fn create(&self, req: &CreateRequest) -> Result<Created, HostVolumeError> {
        let backend = backend(req)?;
        let p = Paths::new(&req.volumes_dir, req.default_path(), req.volume_id.as_str());
        tokio::fs::create_dir_all(&p.state)
            .await
            .map_err(io("creating", &p.state))?;
        let _lock = VolumeLock::acquire(p.lock.clone()).await?;

        // An existing volume keeps its backend, so restores are idempotent.
        if exists(&p.image).await? {
            let tools = system::loop_support().await.map_err(|why| {
                HostVolumeError::other(format!(
                    "volume {} is an image but image mode is unavailable: {why}",
                    req.volume_id
                ))
            })?;
            return self.create_image(&p, &tools, image_size(req)?).await;
        }
        if exists(&p.volume).await? && backend != Backend::Image {
            return self.create_directory(&p).await;
        }
        match backend {
            Backend::Directory => self.create_directory(&p).await,
            Backend::Image => {
                let tools = system::loop_support().await.map_err(|why| {
                    HostVolumeError::parameter(
                        "backend",
                        format!("\"image\" needs loop devices: {why}"),
                    )
                })?;
                self.create_image(&p, &tools, image_size(req)?).await
            }
            Backend::Auto => match system::loop_support().await {
                Ok(tools) => self.create_image(&p, &tools, image_size(req)?).await,
                Err(why) => {
                    tracing::warn!("loop devices unavailable ({why}); creating a plain directory");
                    self.create_directory(&p).await
                }
            },
        }
    }

    async fn delete(&self, req: &DeleteRequest) -> Result<(), HostVolumeError> {
        // volume_path() is the created path only when it is inside the
        // volumes directory; Nomad's automatic delete gets <volumes>/<id>.
        let p = Paths::new(&req.volumes_dir, req.volume_path(), req.volume_id.as_str());
        if !exists(&p.state).await? && !exists(&p.volume).await? {
            return Ok(());
        }
        tokio::fs::create_dir_all(&p.state)
            .await
            .map_err(io("creating", &p.state))?;
        let lock = VolumeLock::acquire(p.lock.clone()).await?;
        if system::mount_at(&p.volume).await?.is_some() {
            let umount = system::find_tool("umount")
                .ok_or_else(|| HostVolumeError::other("umount is not installed"))?;
            // Mounted with -o loop: the loop device detaches on unmount.
            system::run(&umount, &[&p.volume.to_string_lossy()]).await?;
        }
        host_volume::remove_volume_path(req)?;
        for file in [&p.image, &p.partial, &p.grow, &p.lock] {
            match tokio::fs::remove_file(file).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing", file)(e)),
            }
        }
        drop(lock);
        tracing::info!(path = %p.volume.display(), "volume deleted");
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    host_volume::serve(ImagePlugin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nomad_plugin_sdk::common::Invocation;

    fn req(min: &str, max: &str, params: &str) -> CreateRequest {
        CreateRequest::from_invocation(&Invocation::new(
            ["create"],
            [
                ("DHV_OPERATION", "create"),
                ("DHV_VOLUMES_DIR", "/v"),
                ("DHV_PLUGIN_DIR", "/p"),
                ("DHV_VOLUME_ID", "id"),
                ("DHV_CAPACITY_MIN_BYTES", min),
                ("DHV_CAPACITY_MAX_BYTES", max),
                ("DHV_PARAMETERS", params),
            ],
        ))
        .unwrap()
    }

    #[test]
    fn sizes() {
        assert_eq!(image_size(&req("0", "0", "null")).unwrap(), DEFAULT_IMAGE);
        assert_eq!(image_size(&req("1", "0", "null")).unwrap(), MIN_IMAGE);
        assert_eq!(image_size(&req("10000000", "0", "null")).unwrap(), 10 * MIB);
        assert_eq!(
            image_size(&req("0", "20000000", "null")).unwrap(),
            20000000 / 4096 * 4096
        );
        assert_eq!(
            image_size(&req("5000000", "5000000", "null")).unwrap(),
            5000000 / 4096 * 4096
        );
        assert!(image_size(&req("1000", "2000", "null")).is_err());
        assert!(image_size(&req("30", "20", "null")).is_err());
    }

    #[test]
    fn parameters() {
        assert_eq!(backend(&req("0", "0", "null")).unwrap(), Backend::Auto);
        assert_eq!(
            backend(&req("0", "0", r#"{"backend":"directory"}"#)).unwrap(),
            Backend::Directory
        );
        assert!(backend(&req("0", "0", r#"{"backend":"zfs"}"#)).is_err());
        assert!(backend(&req("0", "0", r#"{"size":"1"}"#)).is_err());
    }
}

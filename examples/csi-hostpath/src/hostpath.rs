//! The plugin: controller and node of host-path volumes.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nomad_plugin_sdk::csi::*;
use tokio::sync::Mutex;

use crate::mount::Mounter;
use crate::state::{copy_tree, new_id, tree_size, SnapshotRecord, Source, State, VolumeRecord};

/// The topology key of the node a volume lives on.
pub const TOPOLOGY_KEY: &str = "hostpath.csi.nomad-plugin-rs/node";
/// Volumes get this size when the request does not say.
const DEFAULT_SIZE: u64 = 1 << 30;

pub struct Config {
    pub data_dir: PathBuf,
    pub node_id: String,
    pub capacity: u64,
    pub max_volumes_per_node: u64,
}

pub struct HostPath {
    cfg: Config,
    state: Mutex<State>,
    mounter: Mounter,
}

impl HostPath {
    pub fn open(cfg: Config, mounter: Mounter) -> anyhow::Result<Self> {
        for sub in ["volumes", "snapshots"] {
            std::fs::create_dir_all(cfg.data_dir.join(sub))?;
        }
        let state = State::load(&cfg.data_dir)?;
        tracing::info!(
            data_dir = %cfg.data_dir.display(),
            volumes = state.volumes.len(),
            snapshots = state.snapshots.len(),
            "state loaded"
        );
        Ok(HostPath {
            cfg,
            state: Mutex::new(state),
            mounter,
        })
    }

    fn volume_dir(&self, id: &str) -> PathBuf {
        self.cfg.data_dir.join("volumes").join(id)
    }

    fn snapshot_dir(&self, id: &str) -> PathBuf {
        self.cfg.data_dir.join("snapshots").join(id)
    }

    fn save(&self, state: &State) -> CsiResult<()> {
        state
            .save(&self.cfg.data_dir)
            .map_err(|e| CsiError::Internal(format!("cannot save plugin state: {e}")))
    }

    fn topology(&self) -> Topology {
        Topology::segment(TOPOLOGY_KEY, self.cfg.node_id.clone())
    }

    fn volume(&self, r: &VolumeRecord) -> Volume {
        Volume::new(r.id.clone(), r.capacity)
            .content_source(r.source.as_ref().map(|s| match s {
                Source::Snapshot(id) => ContentSource::Snapshot(id.clone()),
                Source::Volume(id) => ContentSource::Volume(id.clone()),
            }))
            .accessible_topology([self.topology()])
    }

    fn entry(&self, r: &VolumeRecord) -> VolumeEntry {
        VolumeEntry::new(self.volume(r)).published_node_ids(r.published.keys().cloned())
    }

    fn snapshot(r: &SnapshotRecord) -> Snapshot {
        Snapshot::new(
            r.id.clone(),
            r.source_volume_id.clone(),
            r.size,
            UNIX_EPOCH + Duration::from_secs(r.created_unix_secs),
        )
    }
}

fn only_mounts<'a>(caps: impl IntoIterator<Item = &'a VolumeCapability>) -> CsiResult<()> {
    if caps
        .into_iter()
        .any(|c| matches!(c.access_type, AccessType::Block))
    {
        return Err(CsiError::InvalidArgument(
            "host-path volumes are directories: block access is not supported".into(),
        ));
    }
    Ok(())
}

fn not_found(id: &str) -> CsiError {
    CsiError::NotFound(format!("volume {id} does not exist"))
}

#[async_trait]
impl Identity for HostPath {
    async fn get_plugin_info(&self) -> CsiResult<PluginInfo> {
        Ok(PluginInfo::new(
            "hostpath.csi.nomad-plugin-rs",
            env!("CARGO_PKG_VERSION"),
        ))
    }

    async fn probe(&self) -> CsiResult<bool> {
        // Ready while the data directory is usable.
        Ok(self.cfg.data_dir.join("volumes").is_dir())
    }
}

#[async_trait]
impl Controller for HostPath {
    async fn validate_volume_capabilities(
        &self,
        req: ValidateVolumeCapabilitiesRequest,
    ) -> CsiResult<Validation> {
        if !self.state.lock().await.volumes.contains_key(&req.volume_id) {
            return Err(not_found(&req.volume_id));
        }
        if only_mounts(&req.volume_capabilities).is_err() {
            return Ok(Validation::Unconfirmed(
                "host-path volumes support file-system access only".into(),
            ));
        }
        Ok(Validation::Confirmed {
            capabilities: req.volume_capabilities,
            volume_context: req.volume_context,
            parameters: req.parameters,
            mutable_parameters: Map::new(),
        })
    }
}

#[async_trait]
impl CreateDeleteVolume for HostPath {
    async fn create_volume(&self, req: CreateVolumeRequest) -> CsiResult<Volume> {
        only_mounts(&req.volume_capabilities)?;
        if let Some(key) = req.parameters.keys().next() {
            return Err(CsiError::InvalidArgument(format!(
                "unknown parameter {key:?}: host-path volumes take no parameters"
            )));
        }
        if !req.mutable_parameters.is_empty() {
            return Err(CsiError::InvalidArgument(
                "host-path volumes have no mutable parameters".into(),
            ));
        }
        if let Some(t) = &req.accessibility_requirements {
            let here = self.topology();
            if !t.requisite.is_empty() && !t.requisite.contains(&here) {
                return Err(CsiError::ResourceExhausted(format!(
                    "volumes can only be created on node {}",
                    self.cfg.node_id
                )));
            }
        }
        let mut state = self.state.lock().await;
        if let Some(existing) = state.volume_by_name(&req.name) {
            let vol = self.volume(existing);
            check_existing_volume(&vol, &req)?;
            return Ok(vol);
        }
        let size = req.capacity_range.choose(DEFAULT_SIZE, self.cfg.capacity)?;
        let free = self.cfg.capacity.saturating_sub(state.allocated());
        if size > free {
            return Err(CsiError::ResourceExhausted(format!(
                "{size} bytes requested, {free} bytes left of {}",
                self.cfg.capacity
            )));
        }
        let source = match &req.content_source {
            None => None,
            Some(ContentSource::Snapshot(id)) => {
                if !state.snapshots.contains_key(id) {
                    return Err(CsiError::NotFound(format!("snapshot {id} does not exist")));
                }
                Some((Source::Snapshot(id.clone()), self.snapshot_dir(id)))
            }
            Some(ContentSource::Volume(id)) => {
                if !state.volumes.contains_key(id) {
                    return Err(CsiError::NotFound(format!(
                        "source volume {id} does not exist"
                    )));
                }
                Some((Source::Volume(id.clone()), self.volume_dir(id)))
            }
        };
        let id = new_id()?;
        let dir = self.volume_dir(&id);
        match &source {
            Some((_, from)) => copy_tree(from, &dir)?,
            None => std::fs::create_dir_all(&dir)?,
        }
        let record = VolumeRecord {
            id: id.clone(),
            name: req.name.clone(),
            capacity: size,
            source: source.map(|(s, _)| s),
            published: Default::default(),
            staged: Default::default(),
            targets: Default::default(),
        };
        let vol = self.volume(&record);
        state.volumes.insert(id.clone(), record);
        if let Err(e) = self.save(&state) {
            state.volumes.remove(&id);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        tracing::info!(volume_id = %id, name = %req.name, size, "volume created");
        Ok(vol)
    }

    async fn delete_volume(&self, req: DeleteVolumeRequest) -> CsiResult<()> {
        let mut state = self.state.lock().await;
        let Some(v) = state.volumes.get(&req.volume_id) else {
            return Ok(());
        };
        if !v.staged.is_empty() || !v.targets.is_empty() {
            return Err(CsiError::FailedPrecondition(format!(
                "volume {} is still staged or published on node {}",
                v.id, self.cfg.node_id
            )));
        }
        let removed = state.volumes.remove(&req.volume_id);
        self.save(&state)?;
        match std::fs::remove_dir_all(self.volume_dir(&req.volume_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(volume_id = %req.volume_id, error = %e, "volume directory left behind")
            }
            _ => {}
        }
        if removed.is_some() {
            tracing::info!(volume_id = %req.volume_id, "volume deleted");
        }
        Ok(())
    }
}

#[async_trait]
impl PublishUnpublishVolume for HostPath {
    async fn controller_publish_volume(
        &self,
        req: ControllerPublishVolumeRequest,
    ) -> CsiResult<Map> {
        only_mounts([&req.volume_capability])?;
        let mut state = self.state.lock().await;
        let on_node = state
            .volumes
            .values()
            .filter(|v| v.id != req.volume_id && v.published.contains_key(&req.node_id))
            .count() as u64;
        let v = state
            .volumes
            .get_mut(&req.volume_id)
            .ok_or_else(|| not_found(&req.volume_id))?;
        if req.node_id != self.cfg.node_id {
            return Err(CsiError::NotFound(format!(
                "node {} is unknown: host-path volumes live on node {}",
                req.node_id, self.cfg.node_id
            )));
        }
        match v.published.get(&req.node_id) {
            Some(ro) if *ro == req.readonly => return Ok(Map::new()),
            Some(ro) => {
                return Err(CsiError::AlreadyExists(format!(
                    "volume {} is already published to node {} with readonly={ro}",
                    v.id, req.node_id
                )))
            }
            None => {}
        }
        let max = self.cfg.max_volumes_per_node;
        if max > 0 && on_node >= max {
            return Err(CsiError::ResourceExhausted(format!(
                "node {} already has {on_node} volumes published, the limit is {max}",
                req.node_id
            )));
        }
        v.published.insert(req.node_id.clone(), req.readonly);
        self.save(&state)?;
        Ok(Map::new())
    }

    async fn controller_unpublish_volume(
        &self,
        req: ControllerUnpublishVolumeRequest,
    ) -> CsiResult<()> {
        let mut state = self.state.lock().await;
        let Some(v) = state.volumes.get_mut(&req.volume_id) else {
            return Ok(());
        };
        let changed = match &req.node_id {
            Some(node) => v.published.remove(node).is_some(),
            None => {
                let any = !v.published.is_empty();
                v.published.clear();
                any
            }
        };
        if changed {
            self.save(&state)?;
        }
        Ok(())
    }
}

#[async_trait]
impl ListVolumes for HostPath {
    async fn list_volumes(&self, page: PageRequest) -> CsiResult<Page<VolumeEntry>> {
        let state = self.state.lock().await;
        let all = state.volumes.values().map(|r| self.entry(r)).collect();
        page.paginate(all, |e| e.volume.volume_id.as_str())
    }
}

#[async_trait]
impl GetVolume for HostPath {
    async fn controller_get_volume(&self, volume_id: String) -> CsiResult<VolumeEntry> {
        let state = self.state.lock().await;
        let r = state
            .volumes
            .get(&volume_id)
            .ok_or_else(|| not_found(&volume_id))?;
        Ok(self.entry(r))
    }
}

#[async_trait]
impl GetCapacity for HostPath {
    async fn get_capacity(&self, req: GetCapacityRequest) -> CsiResult<Capacity> {
        if only_mounts(&req.volume_capabilities).is_err() {
            return Ok(Capacity::default());
        }
        if let Some(t) = &req.accessible_topology {
            if *t != self.topology() {
                return Ok(Capacity::default());
            }
        }
        let free = self
            .cfg
            .capacity
            .saturating_sub(self.state.lock().await.allocated());
        Ok(Capacity::new(free).maximum_volume_size(free))
    }
}

#[async_trait]
impl ControllerExpandVolume for HostPath {
    async fn controller_expand_volume(
        &self,
        req: ControllerExpandVolumeRequest,
    ) -> CsiResult<Expansion> {
        let mut state = self.state.lock().await;
        let allocated = state.allocated();
        let v = state
            .volumes
            .get_mut(&req.volume_id)
            .ok_or_else(|| not_found(&req.volume_id))?;
        let wanted = req.capacity_range.choose(v.capacity, self.cfg.capacity)?;
        if wanted <= v.capacity {
            // Never shrink; the current size is fine if within the range.
            if req.capacity_range.contains(v.capacity) {
                return Ok(Expansion::new(v.capacity));
            }
            return Err(CsiError::OutOfRange(format!(
                "volume {} has {} bytes and cannot shrink",
                v.id, v.capacity
            )));
        }
        let free = self.cfg.capacity.saturating_sub(allocated);
        if wanted - v.capacity > free {
            return Err(CsiError::ResourceExhausted(format!(
                "growing to {wanted} bytes needs {} more, {free} left",
                wanted - v.capacity
            )));
        }
        v.capacity = wanted;
        self.save(&state)?;
        Ok(Expansion::new(wanted))
    }
}

#[async_trait]
impl CreateDeleteSnapshot for HostPath {
    async fn create_snapshot(&self, req: CreateSnapshotRequest) -> CsiResult<Snapshot> {
        let mut state = self.state.lock().await;
        if let Some(existing) = state.snapshot_by_name(&req.name) {
            let snap = Self::snapshot(existing);
            check_existing_snapshot(&snap, &req)?;
            return Ok(snap);
        }
        if !state.volumes.contains_key(&req.source_volume_id) {
            return Err(not_found(&req.source_volume_id));
        }
        let id = new_id()?;
        let dir = self.snapshot_dir(&id);
        copy_tree(&self.volume_dir(&req.source_volume_id), &dir)?;
        let record = SnapshotRecord {
            id: id.clone(),
            name: req.name.clone(),
            source_volume_id: req.source_volume_id.clone(),
            size: tree_size(&dir)?,
            created_unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let snap = Self::snapshot(&record);
        state.snapshots.insert(id.clone(), record);
        if let Err(e) = self.save(&state) {
            state.snapshots.remove(&id);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        tracing::info!(snapshot_id = %id, volume_id = %req.source_volume_id, "snapshot created");
        Ok(snap)
    }

    async fn delete_snapshot(&self, snapshot_id: String, _: Secrets) -> CsiResult<()> {
        let mut state = self.state.lock().await;
        if state.snapshots.remove(&snapshot_id).is_some() {
            self.save(&state)?;
            let _ = std::fs::remove_dir_all(self.snapshot_dir(&snapshot_id));
        }
        Ok(())
    }
}

#[async_trait]
impl ListSnapshots for HostPath {
    async fn list_snapshots(&self, req: ListSnapshotsRequest) -> CsiResult<Page<Snapshot>> {
        let state = self.state.lock().await;
        let all = state
            .snapshots
            .values()
            .filter(|s| req.snapshot_id.as_ref().is_none_or(|id| *id == s.id))
            .filter(|s| {
                req.source_volume_id
                    .as_ref()
                    .is_none_or(|v| *v == s.source_volume_id)
            })
            .map(Self::snapshot)
            .collect();
        req.page.paginate(all, |s| s.snapshot_id.as_str())
    }
}

#[async_trait]
impl GetSnapshot for HostPath {
    async fn get_snapshot(&self, snapshot_id: String, _: Secrets) -> CsiResult<Snapshot> {
        let state = self.state.lock().await;
        state
            .snapshots
            .get(&snapshot_id)
            .map(Self::snapshot)
            .ok_or_else(|| CsiError::NotFound(format!("snapshot {snapshot_id} does not exist")))
    }
}

#[async_trait]
impl Node for HostPath {
    async fn node_get_info(&self) -> CsiResult<NodeInfo> {
        Ok(NodeInfo::new(self.cfg.node_id.clone())
            .max_volumes_per_node(self.cfg.max_volumes_per_node)
            .accessible_topology(self.topology()))
    }

    async fn node_publish_volume(&self, req: NodePublishVolumeRequest) -> CsiResult<()> {
        only_mounts([&req.volume_capability])?;
        let readonly = req.readonly || req.volume_capability.access_mode.is_read_only();
        let mut state = self.state.lock().await;
        let v = state
            .volumes
            .get_mut(&req.volume_id)
            .ok_or_else(|| not_found(&req.volume_id))?;
        let staging = req.staging_target_path.clone().ok_or_else(|| {
            CsiError::FailedPrecondition("staging_target_path is required".into())
        })?;
        if !v.staged.contains(&staging) {
            return Err(CsiError::FailedPrecondition(format!(
                "volume {} is not staged at {}",
                v.id,
                staging.display()
            )));
        }
        if let Some(ro) = v.targets.get(&req.target_path) {
            if *ro == readonly && self.mounter.is_bound(&req.target_path)? {
                return Ok(());
            }
            if *ro != readonly {
                return Err(CsiError::AlreadyExists(format!(
                    "volume {} is already published at {} with readonly={ro}",
                    v.id,
                    req.target_path.display()
                )));
            }
        } else if self.mounter.is_bound(&req.target_path)? {
            return Err(CsiError::AlreadyExists(format!(
                "{} already has something else mounted",
                req.target_path.display()
            )));
        }
        if let Some(parent) = req.target_path.parent() {
            if !parent.is_dir() {
                return Err(CsiError::FailedPrecondition(format!(
                    "the parent of target_path {} does not exist (the CO creates it)",
                    req.target_path.display()
                )));
            }
        }
        match std::fs::create_dir(&req.target_path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e.into()),
            _ => {}
        }
        let source = if self.mounter.uses_symlinks() {
            self.volume_dir(&req.volume_id)
        } else {
            staging
        };
        self.mounter.bind(&source, &req.target_path, readonly)?;
        v.targets.insert(req.target_path.clone(), readonly);
        self.save(&state)?;
        tracing::info!(volume_id = %req.volume_id, target = %req.target_path.display(), readonly, "volume published");
        Ok(())
    }

    async fn node_unpublish_volume(&self, req: NodeUnpublishVolumeRequest) -> CsiResult<()> {
        self.mounter.unbind(&req.target_path)?;
        match std::fs::remove_dir(&req.target_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let mut state = self.state.lock().await;
        if let Some(v) = state.volumes.get_mut(&req.volume_id) {
            if v.targets.remove(&req.target_path).is_some() {
                self.save(&state)?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl StageUnstageVolume for HostPath {
    async fn node_stage_volume(&self, req: NodeStageVolumeRequest) -> CsiResult<()> {
        only_mounts([&req.volume_capability])?;
        let mut state = self.state.lock().await;
        let dir = self.volume_dir(&req.volume_id);
        let v = state
            .volumes
            .get_mut(&req.volume_id)
            .ok_or_else(|| not_found(&req.volume_id))?;
        let path = &req.staging_target_path;
        if v.staged.contains(path)
            && (self.mounter.uses_symlinks() || self.mounter.is_bound(path)?)
        {
            return Ok(());
        }
        std::fs::create_dir_all(path)?;
        if !self.mounter.uses_symlinks() {
            // The staging directory belongs to the CO; in symlink mode the
            // publish step links straight to the volume instead.
            self.mounter.bind(&dir, path, false)?;
        }
        v.staged.insert(path.clone());
        self.save(&state)?;
        tracing::info!(volume_id = %req.volume_id, staging = %path.display(), "volume staged");
        Ok(())
    }

    async fn node_unstage_volume(&self, req: NodeUnstageVolumeRequest) -> CsiResult<()> {
        if !self.mounter.uses_symlinks() {
            self.mounter.unbind(&req.staging_target_path)?;
        }
        let mut state = self.state.lock().await;
        if let Some(v) = state.volumes.get_mut(&req.volume_id) {
            if v.staged.remove(&req.staging_target_path) {
                self.save(&state)?;
            }
        }
        Ok(())
    }
}

fn statvfs(path: &Path) -> std::io::Result<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: zeroed plain-old-data struct filled by the call.
    let mut out: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut out) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(out)
}

#[async_trait]
impl GetVolumeStats for HostPath {
    async fn node_get_volume_stats(
        &self,
        req: NodeGetVolumeStatsRequest,
    ) -> CsiResult<VolumeStats> {
        let (capacity, known_path) = {
            let state = self.state.lock().await;
            let v = state
                .volumes
                .get(&req.volume_id)
                .ok_or_else(|| not_found(&req.volume_id))?;
            (
                v.capacity,
                v.targets.contains_key(&req.volume_path) || v.staged.contains(&req.volume_path),
            )
        };
        if !known_path || !req.volume_path.exists() {
            return Err(CsiError::NotFound(format!(
                "volume {} is not staged or published at {}",
                req.volume_id,
                req.volume_path.display()
            )));
        }
        let dir = self.volume_dir(&req.volume_id);
        let used = tree_size(&dir)?;
        let fs = statvfs(&dir)?;
        Ok(VolumeStats::new([
            VolumeUsage::new(
                UsageUnit::Bytes,
                capacity.saturating_sub(used),
                capacity,
                used,
            ),
            VolumeUsage::new(
                UsageUnit::Inodes,
                fs.f_favail,
                fs.f_files,
                fs.f_files.saturating_sub(fs.f_ffree),
            ),
        ]))
    }
}

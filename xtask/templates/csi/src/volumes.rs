//! The plugin: Identity, Controller and Node over volume directories.
//!
//! Layout under the data directory, which is all the state there is:
//!
//! ```text
//! <data-dir>/<volume id>/       the volume's files
//! <data-dir>/<volume id>.json   its name and capacity
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nomad_plugin_sdk::csi::*;
use serde::{Deserialize, Serialize};

use crate::mount;
use crate::Config;

/// Volumes get this size when the request does not say.
const DEFAULT_SIZE: u64 = 1 << 30;
/// Every volume id starts with this.
const ID_PREFIX: &str = "vol-";

/// What is recorded about a volume besides its files.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    /// The name `CreateVolume` was called with, the key of idempotency.
    name: String,
    /// The capacity granted. Recorded, not enforced: a directory has no
    /// quota. Enforce it in your storage system.
    capacity_bytes: u64,
}

/// Directory volumes.
pub struct DirVolumes {
    config: Config,
    /// Serialises creation and deletion, so that two concurrent
    /// `CreateVolume` calls for one name make one volume.
    lock: Mutex<()>,
}

/// Whether `id` is one this plugin makes. Ids come from Nomad and end up
/// in paths: anything else (`../x`) is refused before it gets there.
fn valid_id(id: &str) -> bool {
    id.strip_prefix(ID_PREFIX)
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn new_id() -> CsiResult<String> {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| CsiError::Internal(format!("reading /dev/urandom: {e}")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{ID_PREFIX}{hex}"))
}

fn not_found(id: &str) -> CsiError {
    CsiError::NotFound(format!("volume {id} does not exist"))
}

/// Volumes are directories: file-system access only.
fn refuse_block<'a>(caps: impl IntoIterator<Item = &'a VolumeCapability>) -> CsiResult<()> {
    if caps
        .into_iter()
        .any(|c| matches!(c.access_type, AccessType::Block))
    {
        return Err(CsiError::InvalidArgument(
            "volumes are directories: block-device attachment is not supported".into(),
        ));
    }
    Ok(())
}

impl DirVolumes {
    /// Serves the volumes under `config.data_dir`.
    pub fn new(config: Config) -> Self {
        DirVolumes {
            config,
            lock: Mutex::new(()),
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.config.data_dir.join(id)
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.config.data_dir.join(format!("{id}.json"))
    }

    /// The volume's record; `None` for an unknown (or invalid) id.
    fn meta(&self, id: &str) -> CsiResult<Option<Meta>> {
        if !valid_id(id) {
            return Ok(None);
        }
        match std::fs::read(self.meta_path(id)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CsiError::Internal(format!("{}: {e}", self.meta_path(id).display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every volume, by id.
    fn all(&self) -> CsiResult<Vec<(String, Meta)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.config.data_dir)? {
            let name = entry?.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if let Some(meta) = self.meta(id)? {
                out.push((id.to_string(), meta));
            }
        }
        Ok(out)
    }

    fn volume(id: &str, meta: &Meta) -> Volume {
        Volume::new(id, meta.capacity_bytes)
    }

    /// Writes the record through a temporary file, so that a crash never
    /// leaves half of one.
    fn save(&self, id: &str, meta: &Meta) -> CsiResult<()> {
        let body = serde_json::to_vec(meta).map_err(|e| CsiError::Internal(e.to_string()))?;
        let tmp = self.config.data_dir.join(format!(".{id}.json.tmp"));
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, self.meta_path(id))?;
        Ok(())
    }
}

#[async_trait]
impl Identity for DirVolumes {
    async fn get_plugin_info(&self) -> CsiResult<PluginInfo> {
        Ok(PluginInfo::new(
            // Reverse-domain notation; put your own domain here.
            "{{name}}.csi.example.com".replace('_', "-"),
            env!("CARGO_PKG_VERSION"),
        ))
    }

    async fn probe(&self) -> CsiResult<bool> {
        Ok(self.config.data_dir.is_dir())
    }
}

#[async_trait]
impl Controller for DirVolumes {
    async fn validate_volume_capabilities(
        &self,
        req: ValidateVolumeCapabilitiesRequest,
    ) -> CsiResult<Validation> {
        if self.meta(&req.volume_id)?.is_none() {
            return Err(not_found(&req.volume_id));
        }
        if refuse_block(&req.volume_capabilities).is_err() {
            return Ok(Validation::Unconfirmed(
                "volumes are directories: file-system attachment only".into(),
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
impl CreateDeleteVolume for DirVolumes {
    async fn create_volume(&self, req: CreateVolumeRequest) -> CsiResult<Volume> {
        refuse_block(&req.volume_capabilities)?;
        if let Some(key) = req.parameters.keys().next() {
            return Err(CsiError::InvalidArgument(format!(
                "unknown parameter {key:?}: this plugin takes none"
            )));
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // The same name again is the same volume, if it fits the request.
        if let Some((id, meta)) = self.all()?.into_iter().find(|(_, m)| m.name == req.name) {
            let volume = Self::volume(&id, &meta);
            check_existing_volume(&volume, &req)?;
            return Ok(volume);
        }
        let meta = Meta {
            name: req.name.clone(),
            capacity_bytes: req.capacity_range.choose(DEFAULT_SIZE, u64::MAX)?,
        };
        let id = new_id()?;
        std::fs::create_dir(self.dir(&id))?;
        if let Err(e) = self.save(&id, &meta) {
            let _ = std::fs::remove_dir(self.dir(&id));
            return Err(e);
        }
        tracing::info!(volume_id = %id, name = %req.name, "volume created");
        Ok(Self::volume(&id, &meta))
    }

    async fn delete_volume(&self, req: DeleteVolumeRequest) -> CsiResult<()> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.meta(&req.volume_id)?.is_none() {
            // Deleting an unknown volume succeeds: Nomad retries deletes.
            return Ok(());
        }
        // The record first: a volume half deleted is no longer listed.
        std::fs::remove_file(self.meta_path(&req.volume_id))?;
        match std::fs::remove_dir_all(self.dir(&req.volume_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        tracing::info!(volume_id = %req.volume_id, "volume deleted");
        Ok(())
    }
}

#[async_trait]
impl ListVolumes for DirVolumes {
    async fn list_volumes(&self, page: PageRequest) -> CsiResult<Page<VolumeEntry>> {
        let entries = self
            .all()?
            .iter()
            .map(|(id, meta)| VolumeEntry::new(Self::volume(id, meta)))
            .collect();
        page.paginate(entries, |e| e.volume.volume_id.as_str())
    }
}

#[async_trait]
impl Node for DirVolumes {
    async fn node_get_info(&self) -> CsiResult<NodeInfo> {
        Ok(NodeInfo::new(self.config.node_id.clone()))
    }

    async fn node_publish_volume(&self, req: NodePublishVolumeRequest) -> CsiResult<()> {
        refuse_block([&req.volume_capability])?;
        if self.meta(&req.volume_id)?.is_none() {
            return Err(not_found(&req.volume_id));
        }
        let source = self.dir(&req.volume_id);
        let target = &req.target_path;
        // Published already (Nomad retries after timeouts): done.
        if mount::shows(target, &source)? {
            return Ok(());
        }
        if !target.parent().is_some_and(Path::is_dir) {
            return Err(CsiError::FailedPrecondition(format!(
                "the parent of target_path {} does not exist (Nomad creates it)",
                target.display()
            )));
        }
        let readonly = req.readonly || req.volume_capability.access_mode.is_read_only();
        mount::publish(&source, target, readonly)?;
        tracing::info!(volume_id = %req.volume_id, target = %target.display(), readonly, "volume published");
        Ok(())
    }

    async fn node_unpublish_volume(&self, req: NodeUnpublishVolumeRequest) -> CsiResult<()> {
        mount::unpublish(&req.target_path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_nomad_cannot_escape_the_data_dir() {
        assert!(valid_id("vol-0123456789abcdef"));
        for bad in [
            "",
            "vol-",
            "../etc",
            "vol-0123456789abcdeg",
            "vol-0123456789abcdef/..",
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
        let id = new_id().expect("an id");
        assert!(valid_id(&id), "{id}");
    }
}

//! Helpers for the spec's idempotency rules: a CO may repeat any call
//! (after a timeout, a restart, a lost answer) and must get the same
//! result, and may race two calls for one volume.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::error::{CsiError, CsiResult};
use super::requests::{CreateSnapshotRequest, CreateVolumeRequest};
use super::types::{Snapshot, Volume};

/// Checks that an existing volume of the requested name satisfies a
/// repeated `CreateVolume`: a compatible one is returned as is (`Ok`), an
/// incompatible one is `ALREADY_EXISTS`, as the spec requires.
pub fn check_existing_volume(existing: &Volume, request: &CreateVolumeRequest) -> CsiResult<()> {
    if existing.capacity_bytes != 0 && !request.capacity_range.contains(existing.capacity_bytes) {
        return Err(CsiError::AlreadyExists(format!(
            "volume {:?} already exists as {} with {} bytes, outside the requested range",
            request.name, existing.volume_id, existing.capacity_bytes
        )));
    }
    if request.content_source.is_some() && existing.content_source != request.content_source {
        return Err(CsiError::AlreadyExists(format!(
            "volume {:?} already exists as {} with another content source",
            request.name, existing.volume_id
        )));
    }
    Ok(())
}

/// Checks that an existing snapshot of the requested name satisfies a
/// repeated `CreateSnapshot`; another source volume is `ALREADY_EXISTS`.
pub fn check_existing_snapshot(
    existing: &Snapshot,
    request: &CreateSnapshotRequest,
) -> CsiResult<()> {
    if existing.source_volume_id != request.source_volume_id {
        return Err(CsiError::AlreadyExists(format!(
            "snapshot {:?} already exists as {} of volume {}, not of {}",
            request.name, existing.snapshot_id, existing.source_volume_id, request.source_volume_id
        )));
    }
    Ok(())
}

/// At most one operation in flight per key (a volume id or name). A second
/// concurrent call for the same key gets `ABORTED`, the spec's "operation
/// pending for volume", and the CO retries with back-off. Nomad itself
/// serialises calls per volume, so this only trips when calls race after a
/// restart.
#[derive(Debug, Clone, Default)]
pub struct OperationLocks {
    held: Arc<Mutex<HashSet<String>>>,
}

/// Held while an operation runs; dropping it releases the key.
#[derive(Debug)]
pub struct OperationGuard {
    held: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl OperationLocks {
    /// No key held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `key`, or `ABORTED` if an operation already holds it.
    pub fn try_lock(&self, key: &str) -> CsiResult<OperationGuard> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if !held.insert(key.to_string()) {
            return Err(CsiError::Aborted(format!(
                "an operation for {key:?} is already in progress"
            )));
        }
        Ok(OperationGuard {
            held: self.held.clone(),
            key: key.to_string(),
        })
    }
}

impl Drop for OperationGuard {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csi::types::{AccessMode, CapacityRange, ContentSource, Secrets, VolumeCapability};

    fn request(range: CapacityRange) -> CreateVolumeRequest {
        CreateVolumeRequest {
            name: "v".into(),
            capacity_range: range,
            volume_capabilities: vec![VolumeCapability::mount(AccessMode::SingleNodeWriter)],
            parameters: Default::default(),
            secrets: Secrets::default(),
            content_source: None,
            accessibility_requirements: None,
            mutable_parameters: Default::default(),
        }
    }

    #[test]
    fn repeated_create_volume() {
        let vol = Volume {
            volume_id: "id".into(),
            capacity_bytes: 100,
            ..Default::default()
        };
        assert!(check_existing_volume(&vol, &request(CapacityRange::exactly(100))).is_ok());
        assert!(check_existing_volume(&vol, &request(CapacityRange::default())).is_ok());
        assert!(matches!(
            check_existing_volume(&vol, &request(CapacityRange::exactly(200))),
            Err(CsiError::AlreadyExists(_))
        ));
        let mut from_snap = request(CapacityRange::default());
        from_snap.content_source = Some(ContentSource::Snapshot("s".into()));
        assert!(matches!(
            check_existing_volume(&vol, &from_snap),
            Err(CsiError::AlreadyExists(_))
        ));
    }

    #[test]
    fn locks_are_exclusive_and_released() {
        let locks = OperationLocks::new();
        let g = locks.try_lock("vol").unwrap();
        assert!(matches!(locks.try_lock("vol"), Err(CsiError::Aborted(_))));
        assert!(locks.try_lock("other").is_ok());
        drop(g);
        assert!(locks.try_lock("vol").is_ok());
    }
}

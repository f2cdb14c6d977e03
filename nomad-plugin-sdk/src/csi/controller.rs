//! The Controller service: volume lifecycle on the storage system, run by
//! Nomad as a `csi_plugin { type = "controller" }` (or `monolith`) task.
//!
//! [`Controller`] holds the one RPC every controller must answer. Each
//! optional capability is a trait of its own, named after the CSI
//! capability; registering it on [`ControllerService`](super::ControllerService)
//! is what makes the SDK advertise it, so the advertised capabilities and
//! the implemented RPCs cannot disagree. Unregistered RPCs answer
//! `UNIMPLEMENTED`.

use async_trait::async_trait;

use super::error::CsiResult;
use super::pagination::{Page, PageRequest};
use super::requests::{
    ControllerExpandVolumeRequest, ControllerModifyVolumeRequest, ControllerPublishVolumeRequest,
    ControllerUnpublishVolumeRequest, CreateSnapshotRequest, CreateVolumeRequest,
    DeleteVolumeRequest, GetCapacityRequest, ListSnapshotsRequest,
    ValidateVolumeCapabilitiesRequest,
};
use super::types::{Capacity, Expansion, Map, Secrets, Snapshot, Validation, Volume, VolumeEntry};

/// The RPC every controller answers.
#[async_trait]
pub trait Controller: Send + Sync + 'static {
    /// `ValidateVolumeCapabilities`. Nomad calls it when a volume is
    /// registered (`nomad volume register`) and before claiming it; it
    /// compares confirmed capabilities with the requested ones (access
    /// mode, fs type, mount flags) and refuses the volume on a mismatch.
    /// Unknown volumes are `NOT_FOUND`.
    async fn validate_volume_capabilities(
        &self,
        request: ValidateVolumeCapabilitiesRequest,
    ) -> CsiResult<Validation>;
}

/// `CREATE_DELETE_VOLUME`.
#[async_trait]
pub trait CreateDeleteVolume: Controller {
    /// `CreateVolume` (`nomad volume create`). Must be idempotent by name:
    /// the same request again returns the same volume; the same name with
    /// an incompatible size or source is `ALREADY_EXISTS`
    /// (see [`check_existing_volume`](super::check_existing_volume)).
    /// A size the plugin cannot provide is `OUT_OF_RANGE`; no space left is
    /// `RESOURCE_EXHAUSTED`. The SDK has already rejected requests without
    /// a name or capabilities, and content sources the plugin did not
    /// register (snapshots, cloning).
    async fn create_volume(&self, request: CreateVolumeRequest) -> CsiResult<Volume>;

    /// `DeleteVolume` (`nomad volume delete`). Deleting an unknown volume
    /// succeeds. A volume still in use is `FAILED_PRECONDITION`, which
    /// Nomad reports as "volume is in use".
    async fn delete_volume(&self, request: DeleteVolumeRequest) -> CsiResult<()>;
}

/// `PUBLISH_UNPUBLISH_VOLUME`: attach a volume to a node before the node
/// plugin stages it.
#[async_trait]
pub trait PublishUnpublishVolume: Controller {
    /// `ControllerPublishVolume`. Nomad's server calls it when an
    /// allocation claims the volume, with the node id the node plugin
    /// reported; the returned publish context is passed to the node's stage
    /// and publish calls. Idempotent; an unknown volume or node is
    /// `NOT_FOUND`, an incompatible existing publication `ALREADY_EXISTS`,
    /// a volume on another node without a multi-node mode
    /// `FAILED_PRECONDITION`, a full node `RESOURCE_EXHAUSTED`.
    async fn controller_publish_volume(
        &self,
        request: ControllerPublishVolumeRequest,
    ) -> CsiResult<Map>;

    /// `ControllerUnpublishVolume`, when the claim is released. Idempotent:
    /// an unknown volume or a volume not published to the node succeeds
    /// (Nomad treats `NOT_FOUND` as done, too).
    async fn controller_unpublish_volume(
        &self,
        request: ControllerUnpublishVolumeRequest,
    ) -> CsiResult<()>;
}

/// `LIST_VOLUMES`.
#[async_trait]
pub trait ListVolumes: Controller {
    /// `ListVolumes` (`nomad volume status -verbose` of a plugin, and the
    /// volume watcher). Use [`PageRequest::paginate`] to cut the page; a
    /// token that is no longer valid is `ABORTED`.
    async fn list_volumes(&self, page: PageRequest) -> CsiResult<Page<VolumeEntry>>;
}

/// `GET_CAPACITY`.
#[async_trait]
pub trait GetCapacity: Controller {
    /// `GetCapacity`: how much could still be provisioned.
    async fn get_capacity(&self, request: GetCapacityRequest) -> CsiResult<Capacity>;
}

/// `CREATE_DELETE_SNAPSHOT` (`nomad volume snapshot create/delete`).
/// Registering it also lets `CreateVolume` receive a snapshot source.
#[async_trait]
pub trait CreateDeleteSnapshot: Controller {
    /// `CreateSnapshot`. Idempotent by name; the same name for another
    /// source volume is `ALREADY_EXISTS`
    /// (see [`check_existing_snapshot`](super::check_existing_snapshot)); an
    /// unknown source volume is `NOT_FOUND`.
    async fn create_snapshot(&self, request: CreateSnapshotRequest) -> CsiResult<Snapshot>;

    /// `DeleteSnapshot`. Deleting an unknown snapshot succeeds.
    async fn delete_snapshot(&self, snapshot_id: String, secrets: Secrets) -> CsiResult<()>;
}

/// `LIST_SNAPSHOTS` (`nomad volume snapshot list`).
#[async_trait]
pub trait ListSnapshots: Controller {
    /// `ListSnapshots`, optionally filtered by snapshot or source volume
    /// id; a filter that matches nothing is an empty page, not an error.
    async fn list_snapshots(&self, request: ListSnapshotsRequest) -> CsiResult<Page<Snapshot>>;
}

/// `GET_SNAPSHOT`.
#[async_trait]
pub trait GetSnapshot: Controller {
    /// `GetSnapshot`; an unknown id is `NOT_FOUND`.
    async fn get_snapshot(&self, snapshot_id: String, secrets: Secrets) -> CsiResult<Snapshot>;
}

/// `EXPAND_VOLUME` on the controller (`nomad volume create` with a larger
/// capacity on an existing volume).
#[async_trait]
pub trait ControllerExpandVolume: Controller {
    /// `ControllerExpandVolume`. A size the plugin cannot reach is
    /// `OUT_OF_RANGE`; an unknown volume `NOT_FOUND`; a volume that cannot
    /// grow while published (offline expansion only) `FAILED_PRECONDITION`.
    async fn controller_expand_volume(
        &self,
        request: ControllerExpandVolumeRequest,
    ) -> CsiResult<Expansion>;
}

/// `GET_VOLUME`.
#[async_trait]
pub trait GetVolume: Controller {
    /// `ControllerGetVolume`; an unknown id is `NOT_FOUND`.
    async fn controller_get_volume(&self, volume_id: String) -> CsiResult<VolumeEntry>;
}

/// `MODIFY_VOLUME`.
#[async_trait]
pub trait ModifyVolume: Controller {
    /// `ControllerModifyVolume`: change mutable parameters. Unsupported
    /// parameters are `INVALID_ARGUMENT`; an unknown volume `NOT_FOUND`.
    async fn controller_modify_volume(
        &self,
        request: ControllerModifyVolumeRequest,
    ) -> CsiResult<()>;
}

//! The Node service: makes volumes usable on the node where an allocation
//! runs, run by Nomad as a `csi_plugin { type = "node" }` (or `monolith`)
//! task on every client.
//!
//! As with the controller, [`Node`] holds the RPCs every node plugin must
//! answer and each optional capability is a trait registered on
//! [`NodeService`](super::NodeService).

use async_trait::async_trait;

use super::error::CsiResult;
use super::requests::{
    NodeExpandVolumeRequest, NodeGetVolumeStatsRequest, NodePublishVolumeRequest,
    NodeStageVolumeRequest, NodeUnpublishVolumeRequest, NodeUnstageVolumeRequest,
};
use super::types::{NodeInfo, VolumeStats};

/// The RPCs every node plugin answers.
#[async_trait]
pub trait Node: Send + Sync + 'static {
    /// `NodeGetInfo`. Nomad fingerprints the node plugin with it; the node
    /// id goes to `ControllerPublishVolume`, `max_volumes_per_node` limits
    /// scheduling (0 = unlimited) and the topology restricts which volumes
    /// may be placed here. Nomad refuses an empty node id (the SDK turns it
    /// into an `INTERNAL` error naming the mistake).
    async fn node_get_info(&self) -> CsiResult<NodeInfo>;

    /// `NodePublishVolume`: make the volume visible at `target_path` for
    /// one allocation. Nomad created the target's parent; the plugin creates
    /// the target itself. Idempotent (publishing the same volume at the same
    /// path again succeeds); Nomad retries on `UNAVAILABLE`,
    /// `RESOURCE_EXHAUSTED` and timeouts and fails the allocation on any
    /// other error.
    async fn node_publish_volume(&self, request: NodePublishVolumeRequest) -> CsiResult<()>;

    /// `NodeUnpublishVolume`: undo the publish and remove the target path.
    /// Idempotent: an unknown volume or a target that is already gone
    /// succeeds.
    async fn node_unpublish_volume(&self, request: NodeUnpublishVolumeRequest) -> CsiResult<()>;
}

/// `STAGE_UNSTAGE_VOLUME`: prepare a volume once per node (and Nomad usage)
/// before publishing it to allocations.
#[async_trait]
pub trait StageUnstageVolume: Node {
    /// `NodeStageVolume` at `staging_target_path`, a directory Nomad has
    /// created. Idempotent. Nomad stages once per volume and usage and
    /// skips the call when the path is already a mount point.
    async fn node_stage_volume(&self, request: NodeStageVolumeRequest) -> CsiResult<()>;

    /// `NodeUnstageVolume`, after the last allocation on the node released
    /// the volume. Idempotent.
    async fn node_unstage_volume(&self, request: NodeUnstageVolumeRequest) -> CsiResult<()>;
}

/// `GET_VOLUME_STATS`.
#[async_trait]
pub trait GetVolumeStats: Node {
    /// `NodeGetVolumeStats` for a staged or published path. An unknown
    /// volume or a path where the volume is not is `NOT_FOUND`.
    async fn node_get_volume_stats(
        &self,
        request: NodeGetVolumeStatsRequest,
    ) -> CsiResult<VolumeStats>;
}

/// `EXPAND_VOLUME` on the node (grow the file system after the controller
/// grew the volume).
#[async_trait]
pub trait NodeExpandVolume: Node {
    /// `NodeExpandVolume`; returns the new size. An unknown volume is
    /// `NOT_FOUND`.
    async fn node_expand_volume(&self, request: NodeExpandVolumeRequest) -> CsiResult<u64>;
}

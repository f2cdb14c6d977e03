//! Container Storage Interface plugins for Nomad (feature `csi`).
//!
//! Nomad runs a CSI plugin as an ordinary task with a
//! `csi_plugin { id, type, mount_dir }` block; the plugin serves the
//! `csi.v1` gRPC services on `<mount_dir>/csi.sock`, which Nomad passes in
//! `CSI_ENDPOINT`. There is no go-plugin handshake.
//!
//! You implement [`Identity`], and [`Controller`] and/or [`Node`] plus one
//! trait per optional capability ([`CreateDeleteVolume`],
//! [`StageUnstageVolume`], ...). Registering a capability trait on
//! [`ControllerService`] / [`NodeService`] is what advertises it, so the
//! capabilities Nomad sees and the RPCs you implemented cannot disagree;
//! everything not registered answers `UNIMPLEMENTED`. The SDK validates
//! each request before your method runs (missing ids, paths, capabilities,
//! unknown access modes → `INVALID_ARGUMENT`), maps [`CsiError`] to the
//! spec's gRPC codes in one place, and offers helpers for idempotency
//! ([`check_existing_volume`], [`OperationLocks`]) and pagination
//! ([`PageRequest::paginate`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use nomad_plugin_sdk::csi::*;
//!
//! struct Tmpfs;
//!
//! #[async_trait]
//! impl Identity for Tmpfs {
//!     async fn get_plugin_info(&self) -> CsiResult<PluginInfo> {
//!         Ok(PluginInfo::new("tmpfs.csi.example.com", "0.1.0"))
//!     }
//! }
//!
//! #[async_trait]
//! impl Node for Tmpfs {
//!     async fn node_get_info(&self) -> CsiResult<NodeInfo> {
//!         Ok(NodeInfo::new("node-1"))
//!     }
//!     async fn node_publish_volume(&self, req: NodePublishVolumeRequest) -> CsiResult<()> {
//!         std::fs::create_dir_all(&req.target_path)?; // a real plugin mounts here
//!         Ok(())
//!     }
//!     async fn node_unpublish_volume(&self, req: NodeUnpublishVolumeRequest) -> CsiResult<()> {
//!         match std::fs::remove_dir(&req.target_path) {
//!             Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
//!             _ => Ok(()),
//!         }
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let plugin = Arc::new(Tmpfs);
//!     serve(CsiPlugin::new(plugin.clone()).node(NodeService::builder(plugin).build()))
//! }
//! ```
//!
//! The reference plugin `examples/csi-hostpath` shows a complete
//! controller and node with state kept on disk, and the testkit's `csi`
//! module checks a plugin the way Nomad's client drives it.

mod controller;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod grpc;
mod idempotency;
mod identity;
mod node;
mod pagination;
mod plugin;
mod requests;
mod serve;
mod types;

pub use controller::{
    Controller, ControllerExpandVolume, CreateDeleteSnapshot, CreateDeleteVolume, GetCapacity,
    GetSnapshot, GetVolume, ListSnapshots, ListVolumes, ModifyVolume, PublishUnpublishVolume,
};
pub use error::{CsiError, CsiResult};
pub use idempotency::{
    check_existing_snapshot, check_existing_volume, OperationGuard, OperationLocks,
};
pub use identity::Identity;
pub use node::{GetVolumeStats, Node, NodeExpandVolume, StageUnstageVolume};
pub use pagination::{Page, PageRequest};
pub use plugin::{
    ControllerBuilder, ControllerCapability, ControllerService, CsiPlugin, ExpansionMode,
    NodeBuilder, NodeCapability, NodeService, PluginCapability,
};
pub use requests::{
    ControllerExpandVolumeRequest, ControllerModifyVolumeRequest, ControllerPublishVolumeRequest,
    ControllerUnpublishVolumeRequest, CreateSnapshotRequest, CreateVolumeRequest,
    DeleteVolumeRequest, GetCapacityRequest, ListSnapshotsRequest, NodeExpandVolumeRequest,
    NodeGetVolumeStatsRequest, NodePublishVolumeRequest, NodeStageVolumeRequest,
    NodeUnpublishVolumeRequest, NodeUnstageVolumeRequest, ValidateVolumeCapabilitiesRequest,
    MAX_NAME_LENGTH,
};
pub use serve::{
    bind, init_logging, level_from_env, routes, serve, serve_at, serve_with_shutdown,
    shutdown_signal, BoundSocket, Endpoint, LogFormat, ServeError, ServeOptions, ENDPOINT_ENV,
};
pub use types::{
    AccessMode, AccessType, Capacity, CapacityRange, ContentSource, Expansion, Map, MountOptions,
    NodeInfo, PluginInfo, Secrets, Snapshot, Topology, TopologyRequirement, UsageUnit, Validation,
    Volume, VolumeCapability, VolumeCondition, VolumeEntry, VolumeStats, VolumeUsage,
};

/// The async-trait attribute the CSI traits use, re-exported so a plugin
/// needs no extra dependency: `#[nomad_plugin_sdk::csi::async_trait]`.
pub use async_trait::async_trait;

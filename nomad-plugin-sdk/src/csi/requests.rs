//! Validated requests. The SDK builds these from the wire messages and
//! answers `INVALID_ARGUMENT` itself when a required field is missing, so
//! plugin methods only see well-formed input.

use std::path::PathBuf;

use nomad_plugin_proto::csi as pb;

use super::error::{CsiError, CsiResult};
use super::pagination::PageRequest;
use super::types::{
    map_in, CapacityRange, ContentSource, Map, Secrets, Topology, TopologyRequirement,
    VolumeCapability,
};

/// The longest volume or snapshot name the spec lets a CO send.
pub const MAX_NAME_LENGTH: usize = 128;

fn required(value: String, field: &str) -> CsiResult<String> {
    if value.is_empty() {
        Err(CsiError::missing(field))
    } else {
        Ok(value)
    }
}

fn optional(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn path(value: String, field: &str) -> CsiResult<PathBuf> {
    let p = PathBuf::from(required(value, field)?);
    if !p.is_absolute() {
        return Err(CsiError::InvalidArgument(format!(
            "{field} must be an absolute path (got {})",
            p.display()
        )));
    }
    Ok(p)
}

fn capability(c: Option<pb::VolumeCapability>, field: &str) -> CsiResult<VolumeCapability> {
    VolumeCapability::from_wire(c.ok_or_else(|| CsiError::missing(field))?)
}

fn capabilities(cs: Vec<pb::VolumeCapability>) -> CsiResult<Vec<VolumeCapability>> {
    if cs.is_empty() {
        return Err(CsiError::missing("volume_capabilities"));
    }
    cs.into_iter().map(VolumeCapability::from_wire).collect()
}

/// `CreateVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CreateVolumeRequest {
    /// The CO's name for the volume; the key of idempotency (the same name
    /// twice must yield the same volume).
    pub name: String,
    /// The size asked for.
    pub capacity_range: CapacityRange,
    /// How the volume will be used; at least one.
    pub volume_capabilities: Vec<VolumeCapability>,
    /// Plugin-specific parameters (Nomad's `parameters` block).
    pub parameters: Map,
    /// Secrets (Nomad's `secrets` block).
    pub secrets: Secrets,
    /// Snapshot or volume to copy from.
    pub content_source: Option<ContentSource>,
    /// Where the volume must be accessible from.
    pub accessibility_requirements: Option<TopologyRequirement>,
    /// Parameters that `ControllerModifyVolume` may change later.
    pub mutable_parameters: Map,
}

impl CreateVolumeRequest {
    pub(crate) fn from_wire(r: pb::CreateVolumeRequest) -> CsiResult<Self> {
        let name = required(r.name, "name")?;
        if name.len() > MAX_NAME_LENGTH {
            return Err(CsiError::InvalidArgument(format!(
                "name is {} bytes long, the limit is {MAX_NAME_LENGTH}",
                name.len()
            )));
        }
        Ok(CreateVolumeRequest {
            name,
            capacity_range: CapacityRange::from_wire(r.capacity_range)?,
            volume_capabilities: capabilities(r.volume_capabilities)?,
            parameters: map_in(r.parameters),
            secrets: Secrets::from_wire(r.secrets),
            content_source: ContentSource::from_wire(r.volume_content_source)?,
            accessibility_requirements: r.accessibility_requirements.map(|t| TopologyRequirement {
                requisite: t.requisite.into_iter().map(Topology::from_wire).collect(),
                preferred: t.preferred.into_iter().map(Topology::from_wire).collect(),
            }),
            mutable_parameters: map_in(r.mutable_parameters),
        })
    }
}

/// `DeleteVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeleteVolumeRequest {
    /// The volume; deleting an unknown volume must succeed.
    pub volume_id: String,
    /// Secrets.
    pub secrets: Secrets,
}

impl DeleteVolumeRequest {
    pub(crate) fn from_wire(r: pb::DeleteVolumeRequest) -> CsiResult<Self> {
        Ok(DeleteVolumeRequest {
            volume_id: required(r.volume_id, "volume_id")?,
            secrets: Secrets::from_wire(r.secrets),
        })
    }
}

/// `ControllerPublishVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ControllerPublishVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// The node, as its node plugin reported it in `NodeGetInfo`.
    pub node_id: String,
    /// How the node will use it.
    pub volume_capability: VolumeCapability,
    /// Publish read-only (meaningful with `PUBLISH_READONLY`).
    pub readonly: bool,
    /// Secrets.
    pub secrets: Secrets,
    /// The context `CreateVolume` returned.
    pub volume_context: Map,
}

impl ControllerPublishVolumeRequest {
    pub(crate) fn from_wire(r: pb::ControllerPublishVolumeRequest) -> CsiResult<Self> {
        Ok(ControllerPublishVolumeRequest {
            volume_id: required(r.volume_id, "volume_id")?,
            node_id: required(r.node_id, "node_id")?,
            volume_capability: capability(r.volume_capability, "volume_capability")?,
            readonly: r.readonly,
            secrets: Secrets::from_wire(r.secrets),
            volume_context: map_in(r.volume_context),
        })
    }
}

/// `ControllerUnpublishVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ControllerUnpublishVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// The node; `None` means every node.
    pub node_id: Option<String>,
    /// Secrets.
    pub secrets: Secrets,
}

impl ControllerUnpublishVolumeRequest {
    pub(crate) fn from_wire(r: pb::ControllerUnpublishVolumeRequest) -> CsiResult<Self> {
        Ok(ControllerUnpublishVolumeRequest {
            volume_id: required(r.volume_id, "volume_id")?,
            node_id: optional(r.node_id),
            secrets: Secrets::from_wire(r.secrets),
        })
    }
}

/// `ValidateVolumeCapabilities`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ValidateVolumeCapabilitiesRequest {
    /// The volume; unknown volumes are `NOT_FOUND`.
    pub volume_id: String,
    /// Its context.
    pub volume_context: Map,
    /// The capabilities to check; at least one.
    pub volume_capabilities: Vec<VolumeCapability>,
    /// Parameters.
    pub parameters: Map,
    /// Mutable parameters.
    pub mutable_parameters: Map,
    /// Secrets.
    pub secrets: Secrets,
}

impl ValidateVolumeCapabilitiesRequest {
    pub(crate) fn from_wire(r: pb::ValidateVolumeCapabilitiesRequest) -> CsiResult<Self> {
        Ok(ValidateVolumeCapabilitiesRequest {
            volume_id: required(r.volume_id, "volume_id")?,
            volume_context: map_in(r.volume_context),
            volume_capabilities: capabilities(r.volume_capabilities)?,
            parameters: map_in(r.parameters),
            mutable_parameters: map_in(r.mutable_parameters),
            secrets: Secrets::from_wire(r.secrets),
        })
    }
}

/// `GetCapacity`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GetCapacityRequest {
    /// Only capacity usable with these capabilities (may be empty).
    pub volume_capabilities: Vec<VolumeCapability>,
    /// Parameters as for `CreateVolume`.
    pub parameters: Map,
    /// Only capacity accessible from here.
    pub accessible_topology: Option<Topology>,
}

impl GetCapacityRequest {
    pub(crate) fn from_wire(r: pb::GetCapacityRequest) -> CsiResult<Self> {
        Ok(GetCapacityRequest {
            volume_capabilities: r
                .volume_capabilities
                .into_iter()
                .map(VolumeCapability::from_wire)
                .collect::<CsiResult<_>>()?,
            parameters: map_in(r.parameters),
            accessible_topology: r.accessible_topology.map(Topology::from_wire),
        })
    }
}

/// `CreateSnapshot`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CreateSnapshotRequest {
    /// The volume to snapshot.
    pub source_volume_id: String,
    /// The CO's name; the key of idempotency.
    pub name: String,
    /// Secrets.
    pub secrets: Secrets,
    /// Parameters.
    pub parameters: Map,
}

impl CreateSnapshotRequest {
    pub(crate) fn from_wire(r: pb::CreateSnapshotRequest) -> CsiResult<Self> {
        let name = required(r.name, "name")?;
        if name.len() > MAX_NAME_LENGTH {
            return Err(CsiError::InvalidArgument(format!(
                "name is {} bytes long, the limit is {MAX_NAME_LENGTH}",
                name.len()
            )));
        }
        Ok(CreateSnapshotRequest {
            source_volume_id: required(r.source_volume_id, "source_volume_id")?,
            name,
            secrets: Secrets::from_wire(r.secrets),
            parameters: map_in(r.parameters),
        })
    }
}

/// `ListSnapshots`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ListSnapshotsRequest {
    /// Which page.
    pub page: PageRequest,
    /// Only snapshots of this volume.
    pub source_volume_id: Option<String>,
    /// Only this snapshot.
    pub snapshot_id: Option<String>,
    /// Secrets.
    pub secrets: Secrets,
}

impl ListSnapshotsRequest {
    pub(crate) fn from_wire(r: pb::ListSnapshotsRequest) -> CsiResult<Self> {
        Ok(ListSnapshotsRequest {
            page: PageRequest::from_wire(r.max_entries, r.starting_token)?,
            source_volume_id: optional(r.source_volume_id),
            snapshot_id: optional(r.snapshot_id),
            secrets: Secrets::from_wire(r.secrets),
        })
    }
}

/// `ControllerExpandVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ControllerExpandVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// The new size; `required_bytes` or `limit_bytes` is set.
    pub capacity_range: CapacityRange,
    /// Secrets.
    pub secrets: Secrets,
    /// How the volume is used, if the CO says.
    pub volume_capability: Option<VolumeCapability>,
}

impl ControllerExpandVolumeRequest {
    pub(crate) fn from_wire(r: pb::ControllerExpandVolumeRequest) -> CsiResult<Self> {
        let volume_id = required(r.volume_id, "volume_id")?;
        if r.capacity_range.is_none() {
            return Err(CsiError::missing("capacity_range"));
        }
        Ok(ControllerExpandVolumeRequest {
            volume_id,
            capacity_range: CapacityRange::from_wire(r.capacity_range)?,
            secrets: Secrets::from_wire(r.secrets),
            volume_capability: r
                .volume_capability
                .map(VolumeCapability::from_wire)
                .transpose()?,
        })
    }
}

/// `ControllerModifyVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ControllerModifyVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// Secrets.
    pub secrets: Secrets,
    /// The parameters to change.
    pub mutable_parameters: Map,
}

/// `NodeStageVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeStageVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// What `ControllerPublishVolume` returned.
    pub publish_context: Map,
    /// Where to stage it. Nomad passes
    /// `<mount_dir>/staging/<namespace>/<volume>/<usage>` and has created the
    /// directory.
    pub staging_target_path: PathBuf,
    /// How it will be used.
    pub volume_capability: VolumeCapability,
    /// Secrets.
    pub secrets: Secrets,
    /// The context `CreateVolume` returned.
    pub volume_context: Map,
}

impl NodeStageVolumeRequest {
    pub(crate) fn from_wire(r: pb::NodeStageVolumeRequest) -> CsiResult<Self> {
        Ok(NodeStageVolumeRequest {
            volume_id: required(r.volume_id, "volume_id")?,
            publish_context: map_in(r.publish_context),
            staging_target_path: path(r.staging_target_path, "staging_target_path")?,
            volume_capability: capability(r.volume_capability, "volume_capability")?,
            secrets: Secrets::from_wire(r.secrets),
            volume_context: map_in(r.volume_context),
        })
    }
}

/// `NodeUnstageVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeUnstageVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// Where it was staged.
    pub staging_target_path: PathBuf,
}

impl NodeUnstageVolumeRequest {
    pub(crate) fn from_wire(r: pb::NodeUnstageVolumeRequest) -> CsiResult<Self> {
        Ok(NodeUnstageVolumeRequest {
            volume_id: required(r.volume_id, "volume_id")?,
            staging_target_path: path(r.staging_target_path, "staging_target_path")?,
        })
    }
}

/// `NodePublishVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodePublishVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// What `ControllerPublishVolume` returned.
    pub publish_context: Map,
    /// Where it was staged, when the plugin stages.
    pub staging_target_path: Option<PathBuf>,
    /// Where to make it visible. Nomad passes
    /// `<mount_dir>/per-alloc/<alloc>/<volume>/<usage>`; it creates the parent
    /// and the plugin creates the target itself.
    pub target_path: PathBuf,
    /// How it will be used.
    pub volume_capability: VolumeCapability,
    /// Publish read-only.
    pub readonly: bool,
    /// Secrets.
    pub secrets: Secrets,
    /// The context `CreateVolume` returned.
    pub volume_context: Map,
}

impl NodePublishVolumeRequest {
    pub(crate) fn from_wire(r: pb::NodePublishVolumeRequest, stages: bool) -> CsiResult<Self> {
        let volume_id = required(r.volume_id, "volume_id")?;
        let target_path = path(r.target_path, "target_path")?;
        let volume_capability = capability(r.volume_capability, "volume_capability")?;
        let staging_target_path = if r.staging_target_path.is_empty() {
            if stages {
                return Err(CsiError::FailedPrecondition(
                    "staging_target_path is required: this plugin stages volumes \
                     (STAGE_UNSTAGE_VOLUME), call NodeStageVolume first"
                        .into(),
                ));
            }
            None
        } else {
            Some(path(r.staging_target_path, "staging_target_path")?)
        };
        Ok(NodePublishVolumeRequest {
            volume_id,
            publish_context: map_in(r.publish_context),
            staging_target_path,
            target_path,
            volume_capability,
            readonly: r.readonly,
            secrets: Secrets::from_wire(r.secrets),
            volume_context: map_in(r.volume_context),
        })
    }
}

/// `NodeUnpublishVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeUnpublishVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// Where it was published; the plugin removes what it created there.
    pub target_path: PathBuf,
}

impl NodeUnpublishVolumeRequest {
    pub(crate) fn from_wire(r: pb::NodeUnpublishVolumeRequest) -> CsiResult<Self> {
        Ok(NodeUnpublishVolumeRequest {
            volume_id: required(r.volume_id, "volume_id")?,
            target_path: path(r.target_path, "target_path")?,
        })
    }
}

/// `NodeGetVolumeStats`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeGetVolumeStatsRequest {
    /// The volume.
    pub volume_id: String,
    /// A path where it is staged or published. Not necessarily absolute:
    /// an unknown path is `NOT_FOUND`.
    pub volume_path: PathBuf,
    /// Where it is staged, if known.
    pub staging_target_path: Option<PathBuf>,
}

impl NodeGetVolumeStatsRequest {
    pub(crate) fn from_wire(r: pb::NodeGetVolumeStatsRequest) -> CsiResult<Self> {
        Ok(NodeGetVolumeStatsRequest {
            volume_id: required(r.volume_id, "volume_id")?,
            volume_path: PathBuf::from(required(r.volume_path, "volume_path")?),
            staging_target_path: optional(r.staging_target_path).map(PathBuf::from),
        })
    }
}

/// `NodeExpandVolume`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeExpandVolumeRequest {
    /// The volume.
    pub volume_id: String,
    /// Where it is published.
    pub volume_path: PathBuf,
    /// The new size.
    pub capacity_range: CapacityRange,
    /// Where it is staged, if known.
    pub staging_target_path: Option<PathBuf>,
    /// How it is used, if the CO says.
    pub volume_capability: Option<VolumeCapability>,
    /// Secrets.
    pub secrets: Secrets,
}

impl NodeExpandVolumeRequest {
    pub(crate) fn from_wire(r: pb::NodeExpandVolumeRequest) -> CsiResult<Self> {
        Ok(NodeExpandVolumeRequest {
            volume_id: required(r.volume_id, "volume_id")?,
            volume_path: PathBuf::from(required(r.volume_path, "volume_path")?),
            capacity_range: CapacityRange::from_wire(r.capacity_range)?,
            staging_target_path: optional(r.staging_target_path).map(PathBuf::from),
            volume_capability: r
                .volume_capability
                .map(VolumeCapability::from_wire)
                .transpose()?,
            secrets: Secrets::from_wire(r.secrets),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csi::types::AccessMode;

    fn cap() -> pb::VolumeCapability {
        VolumeCapability::mount(AccessMode::SingleNodeWriter).to_wire()
    }

    #[test]
    fn create_volume_needs_name_and_capabilities() {
        let missing_name = pb::CreateVolumeRequest {
            volume_capabilities: vec![cap()],
            ..Default::default()
        };
        let e = CreateVolumeRequest::from_wire(missing_name).unwrap_err();
        assert!(matches!(e, CsiError::InvalidArgument(m) if m.contains("name")));
        let missing_caps = pb::CreateVolumeRequest {
            name: "v".into(),
            ..Default::default()
        };
        let e = CreateVolumeRequest::from_wire(missing_caps).unwrap_err();
        assert!(matches!(e, CsiError::InvalidArgument(m) if m.contains("volume_capabilities")));
        let ok = pb::CreateVolumeRequest {
            name: "v".into(),
            volume_capabilities: vec![cap()],
            ..Default::default()
        };
        assert_eq!(CreateVolumeRequest::from_wire(ok).unwrap().name, "v");
    }

    #[test]
    fn node_publish_rules() {
        let base = pb::NodePublishVolumeRequest {
            volume_id: "v".into(),
            target_path: "/t".into(),
            volume_capability: Some(cap()),
            ..Default::default()
        };
        assert!(NodePublishVolumeRequest::from_wire(base.clone(), false).is_ok());
        assert!(matches!(
            NodePublishVolumeRequest::from_wire(base.clone(), true),
            Err(CsiError::FailedPrecondition(_))
        ));
        let relative = pb::NodePublishVolumeRequest {
            target_path: "t".into(),
            ..base.clone()
        };
        assert!(matches!(
            NodePublishVolumeRequest::from_wire(relative, false),
            Err(CsiError::InvalidArgument(_))
        ));
        let no_cap = pb::NodePublishVolumeRequest {
            volume_capability: None,
            ..base
        };
        assert!(matches!(
            NodePublishVolumeRequest::from_wire(no_cap, false),
            Err(CsiError::InvalidArgument(_))
        ));
    }

    proptest::proptest! {
        // Every field of a request is peer input: conversion either
        // succeeds or answers INVALID_ARGUMENT, never panics.
        #[test]
        fn create_volume_conversion_never_panics(
            name in ".{0,200}",
            mode in proptest::prelude::any::<i32>(),
            required in proptest::prelude::any::<i64>(),
            limit in proptest::prelude::any::<i64>(),
            block in proptest::prelude::any::<bool>(),
        ) {
            use pb::volume_capability::{AccessType, BlockVolume, MountVolume};
            let req = pb::CreateVolumeRequest {
                name,
                capacity_range: Some(pb::CapacityRange { required_bytes: required, limit_bytes: limit }),
                volume_capabilities: vec![pb::VolumeCapability {
                    access_type: Some(if block { AccessType::Block(BlockVolume {}) } else { AccessType::Mount(MountVolume::default()) }),
                    access_mode: Some(pb::volume_capability::AccessMode { mode }),
                }],
                ..Default::default()
            };
            match CreateVolumeRequest::from_wire(req) {
                Ok(r) => proptest::prop_assert!(!r.name.is_empty() && r.name.len() <= MAX_NAME_LENGTH),
                Err(e) => proptest::prop_assert_eq!(e.code(), tonic::Code::InvalidArgument),
            }
        }
    }
}

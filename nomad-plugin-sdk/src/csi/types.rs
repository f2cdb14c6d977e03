//! The CSI concepts as plain Rust types, converted to and from the wire
//! types in one place. Plugin code never sees a protobuf message.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::SystemTime;

use nomad_plugin_proto::csi as pb;

use super::error::{CsiError, CsiResult};

/// String maps (parameters, contexts, topology segments), ordered so that
/// comparisons and logs are deterministic.
pub type Map = BTreeMap<String, String>;

pub(crate) fn map_in(m: HashMap<String, String>) -> Map {
    m.into_iter().collect()
}

pub(crate) fn map_out(m: Map) -> HashMap<String, String> {
    m.into_iter().collect()
}

/// Secrets passed with a request. `Debug` never prints the values, so a
/// request can be logged safely.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub Map);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    pub(crate) fn from_wire(m: HashMap<String, String>) -> Self {
        Secrets(map_in(m))
    }

    /// The secret named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// How a volume may be accessed (`VolumeCapability.AccessMode`). Nomad's
/// names for the first five are given by [`AccessMode::nomad_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessMode {
    /// One node, read-write (`single-node-writer`).
    SingleNodeWriter,
    /// One node, read-only (`single-node-reader-only`).
    SingleNodeReaderOnly,
    /// Many nodes, read-only (`multi-node-reader-only`).
    MultiNodeReaderOnly,
    /// Many nodes, one of them writing (`multi-node-single-writer`).
    MultiNodeSingleWriter,
    /// Many nodes, all writing (`multi-node-multi-writer`).
    MultiNodeMultiWriter,
    /// One node, one workload writing; needs the `SINGLE_NODE_MULTI_WRITER`
    /// capability. Nomad never asks for it.
    SingleNodeSingleWriter,
    /// One node, many workloads writing; needs the `SINGLE_NODE_MULTI_WRITER`
    /// capability. Nomad never asks for it.
    SingleNodeMultiWriter,
}

impl AccessMode {
    /// Every mode, in wire order.
    pub const ALL: [AccessMode; 7] = [
        AccessMode::SingleNodeWriter,
        AccessMode::SingleNodeReaderOnly,
        AccessMode::MultiNodeReaderOnly,
        AccessMode::MultiNodeSingleWriter,
        AccessMode::MultiNodeMultiWriter,
        AccessMode::SingleNodeSingleWriter,
        AccessMode::SingleNodeMultiWriter,
    ];

    /// No workload may write.
    pub fn is_read_only(self) -> bool {
        matches!(
            self,
            AccessMode::SingleNodeReaderOnly | AccessMode::MultiNodeReaderOnly
        )
    }

    /// More than one node may use the volume at once.
    pub fn is_multi_node(self) -> bool {
        matches!(
            self,
            AccessMode::MultiNodeReaderOnly
                | AccessMode::MultiNodeSingleWriter
                | AccessMode::MultiNodeMultiWriter
        )
    }

    /// The mode exists only with the `SINGLE_NODE_MULTI_WRITER` capability.
    pub fn needs_single_node_multi_writer(self) -> bool {
        matches!(
            self,
            AccessMode::SingleNodeSingleWriter | AccessMode::SingleNodeMultiWriter
        )
    }

    /// The name Nomad uses in job specs, volume specs and mount paths
    /// (`single-node-writer`), where Nomad has one.
    pub fn nomad_name(self) -> Option<&'static str> {
        Some(match self {
            AccessMode::SingleNodeWriter => "single-node-writer",
            AccessMode::SingleNodeReaderOnly => "single-node-reader-only",
            AccessMode::MultiNodeReaderOnly => "multi-node-reader-only",
            AccessMode::MultiNodeSingleWriter => "multi-node-single-writer",
            AccessMode::MultiNodeMultiWriter => "multi-node-multi-writer",
            _ => return None,
        })
    }

    pub(crate) fn from_wire(mode: i32) -> CsiResult<Self> {
        use pb::volume_capability::access_mode::Mode;
        Ok(match Mode::try_from(mode) {
            Ok(Mode::SingleNodeWriter) => AccessMode::SingleNodeWriter,
            Ok(Mode::SingleNodeReaderOnly) => AccessMode::SingleNodeReaderOnly,
            Ok(Mode::MultiNodeReaderOnly) => AccessMode::MultiNodeReaderOnly,
            Ok(Mode::MultiNodeSingleWriter) => AccessMode::MultiNodeSingleWriter,
            Ok(Mode::MultiNodeMultiWriter) => AccessMode::MultiNodeMultiWriter,
            Ok(Mode::SingleNodeSingleWriter) => AccessMode::SingleNodeSingleWriter,
            Ok(Mode::SingleNodeMultiWriter) => AccessMode::SingleNodeMultiWriter,
            Ok(Mode::Unknown) => {
                return Err(CsiError::InvalidArgument(
                    "volume capability access mode is UNKNOWN".into(),
                ))
            }
            Err(_) => {
                return Err(CsiError::InvalidArgument(format!(
                    "volume capability access mode {mode} is not a CSI access mode"
                )))
            }
        })
    }

    pub(crate) fn to_wire(self) -> i32 {
        use pb::volume_capability::access_mode::Mode;
        (match self {
            AccessMode::SingleNodeWriter => Mode::SingleNodeWriter,
            AccessMode::SingleNodeReaderOnly => Mode::SingleNodeReaderOnly,
            AccessMode::MultiNodeReaderOnly => Mode::MultiNodeReaderOnly,
            AccessMode::MultiNodeSingleWriter => Mode::MultiNodeSingleWriter,
            AccessMode::MultiNodeMultiWriter => Mode::MultiNodeMultiWriter,
            AccessMode::SingleNodeSingleWriter => Mode::SingleNodeSingleWriter,
            AccessMode::SingleNodeMultiWriter => Mode::SingleNodeMultiWriter,
        }) as i32
    }
}

/// Options of a file-system volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountOptions {
    /// Requested file system type; empty means the plugin's default.
    pub fs_type: String,
    /// Extra mount flags (may hold sensitive data: do not log them).
    pub mount_flags: Vec<String>,
    /// Group the volume should be accessible to (`VOLUME_MOUNT_GROUP`).
    pub volume_mount_group: String,
}

/// Whether the volume is used as a file system or a raw block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessType {
    /// A mounted file system (Nomad's `file-system` attachment mode).
    Mount(MountOptions),
    /// A raw block device (Nomad's `block-device` attachment mode).
    Block,
}

/// One way a volume is going to be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VolumeCapability {
    /// File system or block.
    pub access_type: AccessType,
    /// Who may read and write.
    pub access_mode: AccessMode,
}

impl VolumeCapability {
    /// A file-system capability with default mount options.
    pub fn mount(access_mode: AccessMode) -> Self {
        VolumeCapability {
            access_type: AccessType::Mount(MountOptions::default()),
            access_mode,
        }
    }

    /// A block capability.
    pub fn block(access_mode: AccessMode) -> Self {
        VolumeCapability {
            access_type: AccessType::Block,
            access_mode,
        }
    }

    /// The mount options, for a file-system capability.
    pub fn mount_options(&self) -> Option<&MountOptions> {
        match &self.access_type {
            AccessType::Mount(m) => Some(m),
            AccessType::Block => None,
        }
    }

    /// Validates and converts a wire capability: both the access type and a
    /// known access mode are required.
    pub(crate) fn from_wire(c: pb::VolumeCapability) -> CsiResult<Self> {
        use pb::volume_capability::AccessType as Wire;
        let access_type = match c.access_type {
            Some(Wire::Mount(m)) => AccessType::Mount(MountOptions {
                fs_type: m.fs_type,
                mount_flags: m.mount_flags,
                volume_mount_group: m.volume_mount_group,
            }),
            Some(Wire::Block(_)) => AccessType::Block,
            None => {
                return Err(CsiError::InvalidArgument(
                    "volume capability needs an access type (mount or block)".into(),
                ))
            }
        };
        let mode = c
            .access_mode
            .ok_or_else(|| CsiError::missing("volume capability access mode"))?;
        Ok(VolumeCapability {
            access_type,
            access_mode: AccessMode::from_wire(mode.mode)?,
        })
    }

    pub(crate) fn to_wire(&self) -> pb::VolumeCapability {
        use pb::volume_capability::AccessType as Wire;
        pb::VolumeCapability {
            access_type: Some(match &self.access_type {
                AccessType::Mount(m) => Wire::Mount(pb::volume_capability::MountVolume {
                    fs_type: m.fs_type.clone(),
                    mount_flags: m.mount_flags.clone(),
                    volume_mount_group: m.volume_mount_group.clone(),
                }),
                AccessType::Block => Wire::Block(pb::volume_capability::BlockVolume {}),
            }),
            access_mode: Some(pb::volume_capability::AccessMode {
                mode: self.access_mode.to_wire(),
            }),
        }
    }
}

/// The size a caller asks for. `None` means the bound was not given (the
/// wire's 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapacityRange {
    /// The volume must be at least this large.
    pub required_bytes: Option<u64>,
    /// The volume must be at most this large.
    pub limit_bytes: Option<u64>,
}

impl CapacityRange {
    /// Exactly `bytes`.
    pub fn exactly(bytes: u64) -> Self {
        CapacityRange {
            required_bytes: Some(bytes),
            limit_bytes: Some(bytes),
        }
    }

    /// Whether `bytes` satisfies the range.
    pub fn contains(&self, bytes: u64) -> bool {
        self.required_bytes.is_none_or(|r| bytes >= r)
            && self.limit_bytes.is_none_or(|l| bytes <= l)
    }

    /// The size to provision: the required size if given, else `default`
    /// capped at the limit. `OUT_OF_RANGE` when the result would exceed
    /// `max` (the largest volume this plugin can make).
    pub fn choose(&self, default: u64, max: u64) -> CsiResult<u64> {
        let size = match (self.required_bytes, self.limit_bytes) {
            (Some(r), _) => r,
            (None, Some(l)) => default.min(l),
            (None, None) => default,
        };
        if size > max {
            return Err(CsiError::OutOfRange(format!(
                "requested {size} bytes, the largest volume this plugin can provide is {max} bytes"
            )));
        }
        Ok(size)
    }

    pub(crate) fn from_wire(r: Option<pb::CapacityRange>) -> CsiResult<Self> {
        let Some(r) = r else {
            return Ok(CapacityRange::default());
        };
        let non_negative = |v: i64, what: &str| -> CsiResult<Option<u64>> {
            match v {
                0 => Ok(None),
                v if v < 0 => Err(CsiError::InvalidArgument(format!(
                    "capacity range {what} must not be negative (got {v})"
                ))),
                v => Ok(Some(v as u64)),
            }
        };
        let range = CapacityRange {
            required_bytes: non_negative(r.required_bytes, "required_bytes")?,
            limit_bytes: non_negative(r.limit_bytes, "limit_bytes")?,
        };
        if let (Some(req), Some(lim)) = (range.required_bytes, range.limit_bytes) {
            if lim < req {
                return Err(CsiError::InvalidArgument(format!(
                    "capacity range limit_bytes ({lim}) is below required_bytes ({req})"
                )));
            }
        }
        Ok(range)
    }
}

pub(crate) fn bytes_out(b: u64) -> i64 {
    i64::try_from(b).unwrap_or(i64::MAX)
}

/// Where a new volume's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentSource {
    /// Restore this snapshot (needs `CREATE_DELETE_SNAPSHOT`).
    Snapshot(String),
    /// Clone this volume (needs `CLONE_VOLUME`).
    Volume(String),
}

impl ContentSource {
    pub(crate) fn from_wire(s: Option<pb::VolumeContentSource>) -> CsiResult<Option<Self>> {
        use pb::volume_content_source::Type;
        let Some(s) = s else { return Ok(None) };
        match s.r#type {
            Some(Type::Snapshot(s)) if !s.snapshot_id.is_empty() => {
                Ok(Some(ContentSource::Snapshot(s.snapshot_id)))
            }
            Some(Type::Volume(v)) if !v.volume_id.is_empty() => {
                Ok(Some(ContentSource::Volume(v.volume_id)))
            }
            Some(Type::Snapshot(_)) => Err(CsiError::missing("volume content source snapshot_id")),
            Some(Type::Volume(_)) => Err(CsiError::missing("volume content source volume_id")),
            None => Err(CsiError::InvalidArgument(
                "volume content source names neither a snapshot nor a volume".into(),
            )),
        }
    }

    pub(crate) fn to_wire(&self) -> pb::VolumeContentSource {
        use pb::volume_content_source::{SnapshotSource, Type, VolumeSource};
        pb::VolumeContentSource {
            r#type: Some(match self {
                ContentSource::Snapshot(id) => Type::Snapshot(SnapshotSource {
                    snapshot_id: id.clone(),
                }),
                ContentSource::Volume(id) => Type::Volume(VolumeSource {
                    volume_id: id.clone(),
                }),
            }),
        }
    }
}

/// Topology segments (`{"zone": "a"}`): where a volume or node is.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Topology {
    /// Segment keys to values.
    pub segments: Map,
}

impl Topology {
    /// A topology of one segment.
    pub fn segment(key: impl Into<String>, value: impl Into<String>) -> Self {
        let mut segments = Map::new();
        segments.insert(key.into(), value.into());
        Topology { segments }
    }

    pub(crate) fn from_wire(t: pb::Topology) -> Self {
        Topology {
            segments: map_in(t.segments),
        }
    }

    pub(crate) fn to_wire(&self) -> pb::Topology {
        pb::Topology {
            segments: map_out(self.segments.clone()),
        }
    }
}

/// Where a new volume must (`requisite`) and should (`preferred`) be
/// accessible from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopologyRequirement {
    /// The volume must be accessible from at least one of these.
    pub requisite: Vec<Topology>,
    /// In order of preference.
    pub preferred: Vec<Topology>,
}

/// A volume as the controller reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Volume {
    /// The plugin's identifier of the volume (Nomad's "external ID").
    pub volume_id: String,
    /// Size in bytes; 0 means unknown.
    pub capacity_bytes: u64,
    /// Opaque data the CO passes back on node calls.
    pub volume_context: Map,
    /// What the volume was created from.
    pub content_source: Option<ContentSource>,
    /// Where the volume can be used from (empty: everywhere).
    pub accessible_topology: Vec<Topology>,
}

impl Volume {
    /// The volume `volume_id` of `capacity_bytes` bytes (0: unknown), with
    /// no context, source or topology.
    pub fn new(volume_id: impl Into<String>, capacity_bytes: u64) -> Self {
        Volume {
            volume_id: volume_id.into(),
            capacity_bytes,
            ..Default::default()
        }
    }

    /// Sets the opaque data the CO passes back on node calls.
    pub fn volume_context(mut self, context: Map) -> Self {
        self.volume_context = context;
        self
    }

    /// Sets what the volume was created from.
    pub fn content_source(mut self, source: impl Into<Option<ContentSource>>) -> Self {
        self.content_source = source.into();
        self
    }

    /// Sets where the volume can be used from.
    pub fn accessible_topology(mut self, topology: impl IntoIterator<Item = Topology>) -> Self {
        self.accessible_topology = topology.into_iter().collect();
        self
    }

    pub(crate) fn to_wire(&self) -> pb::Volume {
        pb::Volume {
            capacity_bytes: bytes_out(self.capacity_bytes),
            volume_id: self.volume_id.clone(),
            volume_context: map_out(self.volume_context.clone()),
            content_source: self.content_source.as_ref().map(ContentSource::to_wire),
            accessible_topology: self
                .accessible_topology
                .iter()
                .map(Topology::to_wire)
                .collect(),
        }
    }
}

/// Whether a volume is healthy (`VOLUME_CONDITION`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VolumeCondition {
    /// Something is wrong.
    pub abnormal: bool,
    /// What.
    pub message: String,
}

impl VolumeCondition {
    /// A healthy volume.
    pub fn healthy() -> Self {
        VolumeCondition::default()
    }

    /// An abnormal volume, and what is wrong.
    pub fn abnormal(message: impl Into<String>) -> Self {
        VolumeCondition {
            abnormal: true,
            message: message.into(),
        }
    }

    pub(crate) fn to_wire(&self) -> pb::VolumeCondition {
        pb::VolumeCondition {
            abnormal: self.abnormal,
            message: self.message.clone(),
        }
    }
}

/// A volume and its controller-side status, as listed or fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VolumeEntry {
    /// The volume.
    pub volume: Volume,
    /// Nodes it is published to; reported only with
    /// `LIST_VOLUMES_PUBLISHED_NODES`.
    pub published_node_ids: Vec<String>,
    /// Its health; reported only with `VOLUME_CONDITION`.
    pub condition: Option<VolumeCondition>,
}

impl VolumeEntry {
    /// `volume`, with no published nodes or condition.
    pub fn new(volume: Volume) -> Self {
        VolumeEntry {
            volume,
            ..Default::default()
        }
    }

    /// Sets the nodes it is published to.
    pub fn published_node_ids(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.published_node_ids = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Sets its health.
    pub fn condition(mut self, condition: VolumeCondition) -> Self {
        self.condition = Some(condition);
        self
    }
}

/// A snapshot of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The plugin's identifier of the snapshot.
    pub snapshot_id: String,
    /// The volume it was taken from.
    pub source_volume_id: String,
    /// Size in bytes; 0 means unknown.
    pub size_bytes: u64,
    /// When it was taken.
    pub creation_time: SystemTime,
    /// Whether a volume can be created from it now.
    pub ready_to_use: bool,
    /// The group snapshot it belongs to, if any.
    pub group_snapshot_id: String,
}

impl Snapshot {
    /// The snapshot `snapshot_id` of `source_volume_id`, `size_bytes` big
    /// (0: unknown), taken at `creation_time` and ready to use.
    pub fn new(
        snapshot_id: impl Into<String>,
        source_volume_id: impl Into<String>,
        size_bytes: u64,
        creation_time: SystemTime,
    ) -> Self {
        Snapshot {
            snapshot_id: snapshot_id.into(),
            source_volume_id: source_volume_id.into(),
            size_bytes,
            creation_time,
            ready_to_use: true,
            group_snapshot_id: String::new(),
        }
    }

    /// Sets whether a volume can be created from it now.
    pub fn ready_to_use(mut self, ready: bool) -> Self {
        self.ready_to_use = ready;
        self
    }

    /// Sets the group snapshot it belongs to.
    pub fn group_snapshot_id(mut self, id: impl Into<String>) -> Self {
        self.group_snapshot_id = id.into();
        self
    }

    pub(crate) fn to_wire(&self) -> pb::Snapshot {
        let since = self
            .creation_time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        pb::Snapshot {
            size_bytes: bytes_out(self.size_bytes),
            snapshot_id: self.snapshot_id.clone(),
            source_volume_id: self.source_volume_id.clone(),
            creation_time: Some(prost_types::Timestamp {
                seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
            }),
            ready_to_use: self.ready_to_use,
            group_snapshot_id: self.group_snapshot_id.clone(),
        }
    }
}

/// What a plugin says about itself (`GetPluginInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginInfo {
    /// Reverse-domain name, e.g. `hostpath.csi.example.com`. Nomad rejects
    /// an empty name.
    pub name: String,
    /// The plugin's version; Nomad shows it in `nomad plugin status`.
    pub vendor_version: String,
    /// Free-form extra information.
    pub manifest: Map,
}

impl PluginInfo {
    /// A plugin named `name` (reverse-domain) at `vendor_version`.
    pub fn new(name: impl Into<String>, vendor_version: impl Into<String>) -> Self {
        PluginInfo {
            name: name.into(),
            vendor_version: vendor_version.into(),
            manifest: Map::new(),
        }
    }

    /// Adds a manifest entry.
    pub fn manifest(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.manifest.insert(key.into(), value.into());
        self
    }
}

/// What a node plugin says about its node (`NodeGetInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// The node's identifier in the storage system; Nomad passes it to
    /// `ControllerPublishVolume`. Nomad rejects an empty id.
    pub node_id: String,
    /// How many volumes can be published on this node; 0 means unlimited.
    pub max_volumes_per_node: u64,
    /// Where this node is; Nomad schedules volumes with topology onto
    /// matching nodes.
    pub accessible_topology: Option<Topology>,
}

impl NodeInfo {
    /// The node `node_id`, with no volume limit and no topology.
    pub fn new(node_id: impl Into<String>) -> Self {
        NodeInfo {
            node_id: node_id.into(),
            ..Default::default()
        }
    }

    /// Sets how many volumes can be published on this node (0: unlimited).
    pub fn max_volumes_per_node(mut self, max: u64) -> Self {
        self.max_volumes_per_node = max;
        self
    }

    /// Sets where this node is.
    pub fn accessible_topology(mut self, topology: Topology) -> Self {
        self.accessible_topology = Some(topology);
        self
    }
}

/// What `GetCapacity` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capacity {
    /// Bytes that could be provisioned now.
    pub available_capacity: u64,
    /// The largest single volume, if limited.
    pub maximum_volume_size: Option<u64>,
    /// The smallest single volume, if limited.
    pub minimum_volume_size: Option<u64>,
}

impl Capacity {
    /// `available_capacity` bytes could be provisioned now; no size limits.
    pub fn new(available_capacity: u64) -> Self {
        Capacity {
            available_capacity,
            ..Default::default()
        }
    }

    /// Sets the largest single volume.
    pub fn maximum_volume_size(mut self, bytes: u64) -> Self {
        self.maximum_volume_size = Some(bytes);
        self
    }

    /// Sets the smallest single volume.
    pub fn minimum_volume_size(mut self, bytes: u64) -> Self {
        self.minimum_volume_size = Some(bytes);
        self
    }
}

/// The unit of a [`VolumeUsage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageUnit {
    /// Bytes.
    Bytes,
    /// Inodes.
    Inodes,
}

/// One usage figure of a published volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VolumeUsage {
    /// Bytes or inodes.
    pub unit: UsageUnit,
    /// Free.
    pub available: u64,
    /// Total.
    pub total: u64,
    /// Used.
    pub used: u64,
}

impl VolumeUsage {
    /// `used` of `total` in `unit`, `available` free.
    pub fn new(unit: UsageUnit, available: u64, total: u64, used: u64) -> Self {
        VolumeUsage {
            unit,
            available,
            total,
            used,
        }
    }
}

/// What `NodeGetVolumeStats` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VolumeStats {
    /// Usage figures (bytes, inodes).
    pub usage: Vec<VolumeUsage>,
    /// Health, reported only with the node's `VOLUME_CONDITION`.
    pub condition: Option<VolumeCondition>,
}

impl VolumeStats {
    /// The usage figures `usage`, with no condition.
    pub fn new(usage: impl IntoIterator<Item = VolumeUsage>) -> Self {
        VolumeStats {
            usage: usage.into_iter().collect(),
            condition: None,
        }
    }

    /// Sets the volume's health.
    pub fn condition(mut self, condition: VolumeCondition) -> Self {
        self.condition = Some(condition);
        self
    }
}

/// A volume's new size after an expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Expansion {
    /// The new size.
    pub capacity_bytes: u64,
    /// Whether `NodeExpandVolume` must follow (controller expansion only).
    pub node_expansion_required: bool,
}

impl Expansion {
    /// The volume now has `capacity_bytes`; no node expansion needed.
    pub fn new(capacity_bytes: u64) -> Self {
        Expansion {
            capacity_bytes,
            node_expansion_required: false,
        }
    }

    /// Sets whether `NodeExpandVolume` must follow.
    pub fn node_expansion_required(mut self, required: bool) -> Self {
        self.node_expansion_required = required;
        self
    }
}

/// The answer of `ValidateVolumeCapabilities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// Every requested capability is supported; Nomad compares the echoed
    /// capabilities with what it asked (fs type and mount flags must match).
    Confirmed {
        /// The capabilities confirmed (normally all requested).
        capabilities: Vec<VolumeCapability>,
        /// The volume context confirmed.
        volume_context: Map,
        /// The parameters confirmed.
        parameters: Map,
        /// The mutable parameters confirmed.
        mutable_parameters: Map,
    },
    /// Not supported, and why.
    Unconfirmed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_range_checks_bounds() {
        let r = CapacityRange::from_wire(Some(pb::CapacityRange {
            required_bytes: 10,
            limit_bytes: 0,
        }))
        .unwrap();
        assert_eq!(r.required_bytes, Some(10));
        assert_eq!(r.limit_bytes, None);
        assert!(r.contains(10) && r.contains(100) && !r.contains(9));
        let bad = CapacityRange::from_wire(Some(pb::CapacityRange {
            required_bytes: 10,
            limit_bytes: 5,
        }));
        assert!(matches!(bad, Err(CsiError::InvalidArgument(_))));
        let neg = CapacityRange::from_wire(Some(pb::CapacityRange {
            required_bytes: -1,
            limit_bytes: 0,
        }));
        assert!(matches!(neg, Err(CsiError::InvalidArgument(_))));
        assert_eq!(CapacityRange::default().choose(7, 100), Ok(7));
        assert_eq!(
            CapacityRange {
                required_bytes: None,
                limit_bytes: Some(5)
            }
            .choose(7, 100),
            Ok(5)
        );
        assert!(matches!(
            CapacityRange::exactly(200).choose(7, 100),
            Err(CsiError::OutOfRange(_))
        ));
    }

    #[test]
    fn capability_round_trips_and_rejects_unknown_mode() {
        for mode in AccessMode::ALL {
            let c = VolumeCapability::mount(mode);
            assert_eq!(VolumeCapability::from_wire(c.to_wire()).unwrap(), c);
        }
        let mut w = VolumeCapability::block(AccessMode::SingleNodeWriter).to_wire();
        w.access_mode = Some(pb::volume_capability::AccessMode { mode: 0 });
        assert!(matches!(
            VolumeCapability::from_wire(w.clone()),
            Err(CsiError::InvalidArgument(_))
        ));
        w.access_mode = Some(pb::volume_capability::AccessMode { mode: 99 });
        assert!(VolumeCapability::from_wire(w.clone()).is_err());
        w.access_mode = None;
        assert!(VolumeCapability::from_wire(w).is_err());
        let no_type = pb::VolumeCapability {
            access_type: None,
            access_mode: Some(pb::volume_capability::AccessMode { mode: 1 }),
        };
        assert!(VolumeCapability::from_wire(no_type).is_err());
    }

    #[test]
    fn secrets_debug_hides_values() {
        let mut m = Map::new();
        m.insert("password".into(), "hunter2".into());
        let text = format!("{:?}", Secrets(m));
        assert!(text.contains("password") && !text.contains("hunter2"));
    }
}

//! Registering a plugin's services. What is registered here is exactly
//! what the plugin advertises: every builder method that adds a capability
//! requires (by its trait bound) that the plugin implements the RPCs behind
//! it, and the SDK answers `UNIMPLEMENTED` for everything not registered.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::controller::{
    Controller, ControllerExpandVolume, CreateDeleteSnapshot, CreateDeleteVolume, GetCapacity,
    GetSnapshot, GetVolume, ListSnapshots, ListVolumes, ModifyVolume, PublishUnpublishVolume,
};
use super::identity::Identity;
use super::node::{GetVolumeStats, Node, NodeExpandVolume, StageUnstageVolume};

/// A controller capability (`ControllerServiceCapability.RPC.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // named exactly as the spec's capabilities
pub enum ControllerCapability {
    CreateDeleteVolume,
    PublishUnpublishVolume,
    ListVolumes,
    GetCapacity,
    CreateDeleteSnapshot,
    ListSnapshots,
    CloneVolume,
    PublishReadonly,
    ExpandVolume,
    ListVolumesPublishedNodes,
    VolumeCondition,
    GetVolume,
    SingleNodeMultiWriter,
    ModifyVolume,
    GetSnapshot,
}

/// A node capability (`NodeServiceCapability.RPC.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // named exactly as the spec's capabilities
pub enum NodeCapability {
    StageUnstageVolume,
    GetVolumeStats,
    ExpandVolume,
    VolumeCondition,
    SingleNodeMultiWriter,
    VolumeMountGroup,
}

/// Whether a volume can grow while published (`ONLINE`) or only while not
/// (`OFFLINE`); reported as the plugin's `VolumeExpansion` capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExpansionMode {
    /// Grows while in use.
    Online,
    /// Grows only while not published.
    Offline,
}

/// A plugin capability (`PluginCapability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginCapability {
    /// The plugin serves the Controller service.
    ControllerService,
    /// Volumes are not equally accessible from every node.
    VolumeAccessibilityConstraints,
    /// Volumes can be expanded.
    VolumeExpansion(ExpansionMode),
}

/// A registered Controller service. Build it with
/// [`ControllerService::builder`].
#[derive(Clone)]
pub struct ControllerService {
    pub(crate) base: Arc<dyn Controller>,
    pub(crate) create_delete: Option<Arc<dyn CreateDeleteVolume>>,
    pub(crate) publish: Option<Arc<dyn PublishUnpublishVolume>>,
    pub(crate) list_volumes: Option<Arc<dyn ListVolumes>>,
    pub(crate) get_capacity: Option<Arc<dyn GetCapacity>>,
    pub(crate) snapshots: Option<Arc<dyn CreateDeleteSnapshot>>,
    pub(crate) list_snapshots: Option<Arc<dyn ListSnapshots>>,
    pub(crate) get_snapshot: Option<Arc<dyn GetSnapshot>>,
    pub(crate) expand: Option<(Arc<dyn ControllerExpandVolume>, ExpansionMode)>,
    pub(crate) get_volume: Option<Arc<dyn GetVolume>>,
    pub(crate) modify: Option<Arc<dyn ModifyVolume>>,
    pub(crate) flags: BTreeSet<ControllerCapability>,
}

impl ControllerService {
    /// Starts registering `controller`; add each capability it implements.
    pub fn builder<T: Controller>(controller: Arc<T>) -> ControllerBuilder<T> {
        ControllerBuilder {
            svc: ControllerService {
                base: controller.clone(),
                create_delete: None,
                publish: None,
                list_volumes: None,
                get_capacity: None,
                snapshots: None,
                list_snapshots: None,
                get_snapshot: None,
                expand: None,
                get_volume: None,
                modify: None,
                flags: BTreeSet::new(),
            },
            inner: controller,
        }
    }

    /// The capabilities `ControllerGetCapabilities` reports.
    pub fn capabilities(&self) -> BTreeSet<ControllerCapability> {
        use ControllerCapability as C;
        let mut caps = self.flags.clone();
        let rpcs = [
            (self.create_delete.is_some(), C::CreateDeleteVolume),
            (self.publish.is_some(), C::PublishUnpublishVolume),
            (self.list_volumes.is_some(), C::ListVolumes),
            (self.get_capacity.is_some(), C::GetCapacity),
            (self.snapshots.is_some(), C::CreateDeleteSnapshot),
            (self.list_snapshots.is_some(), C::ListSnapshots),
            (self.get_snapshot.is_some(), C::GetSnapshot),
            (self.expand.is_some(), C::ExpandVolume),
            (self.get_volume.is_some(), C::GetVolume),
            (self.modify.is_some(), C::ModifyVolume),
        ];
        caps.extend(rpcs.into_iter().filter(|(on, _)| *on).map(|(_, c)| c));
        caps
    }

    pub(crate) fn has(&self, cap: ControllerCapability) -> bool {
        self.capabilities().contains(&cap)
    }
}

/// Registers the capabilities of a controller of type `T`.
pub struct ControllerBuilder<T> {
    inner: Arc<T>,
    svc: ControllerService,
}

impl<T: Controller> ControllerBuilder<T> {
    /// `CREATE_DELETE_VOLUME`.
    pub fn create_delete_volume(mut self) -> Self
    where
        T: CreateDeleteVolume,
    {
        self.svc.create_delete = Some(self.inner.clone());
        self
    }

    /// `PUBLISH_UNPUBLISH_VOLUME`.
    pub fn publish_unpublish_volume(mut self) -> Self
    where
        T: PublishUnpublishVolume,
    {
        self.svc.publish = Some(self.inner.clone());
        self
    }

    /// `LIST_VOLUMES`.
    pub fn list_volumes(mut self) -> Self
    where
        T: ListVolumes,
    {
        self.svc.list_volumes = Some(self.inner.clone());
        self
    }

    /// `GET_CAPACITY`.
    pub fn get_capacity(mut self) -> Self
    where
        T: GetCapacity,
    {
        self.svc.get_capacity = Some(self.inner.clone());
        self
    }

    /// `CREATE_DELETE_SNAPSHOT`; `CreateVolume` then accepts snapshot
    /// sources.
    pub fn create_delete_snapshot(mut self) -> Self
    where
        T: CreateDeleteSnapshot,
    {
        self.svc.snapshots = Some(self.inner.clone());
        self
    }

    /// `LIST_SNAPSHOTS`.
    pub fn list_snapshots(mut self) -> Self
    where
        T: ListSnapshots,
    {
        self.svc.list_snapshots = Some(self.inner.clone());
        self
    }

    /// `GET_SNAPSHOT`.
    pub fn get_snapshot(mut self) -> Self
    where
        T: GetSnapshot,
    {
        self.svc.get_snapshot = Some(self.inner.clone());
        self
    }

    /// `EXPAND_VOLUME`, and the plugin's `VolumeExpansion` capability.
    pub fn expand_volume(mut self, mode: ExpansionMode) -> Self
    where
        T: ControllerExpandVolume,
    {
        self.svc.expand = Some((self.inner.clone(), mode));
        self
    }

    /// `GET_VOLUME`.
    pub fn get_volume(mut self) -> Self
    where
        T: GetVolume,
    {
        self.svc.get_volume = Some(self.inner.clone());
        self
    }

    /// `MODIFY_VOLUME`.
    pub fn modify_volume(mut self) -> Self
    where
        T: ModifyVolume,
    {
        self.svc.modify = Some(self.inner.clone());
        self
    }

    /// `CLONE_VOLUME`: `CreateVolume` accepts a volume source. Implies
    /// `CREATE_DELETE_VOLUME`.
    pub fn clone_volume(self) -> Self
    where
        T: CreateDeleteVolume,
    {
        let mut b = self.create_delete_volume();
        b.svc.flags.insert(ControllerCapability::CloneVolume);
        b
    }

    /// `PUBLISH_READONLY`: the plugin honours `readonly` in
    /// `ControllerPublishVolume`. Implies `PUBLISH_UNPUBLISH_VOLUME`.
    pub fn publish_readonly(self) -> Self
    where
        T: PublishUnpublishVolume,
    {
        let mut b = self.publish_unpublish_volume();
        b.svc.flags.insert(ControllerCapability::PublishReadonly);
        b
    }

    /// `LIST_VOLUMES_PUBLISHED_NODES`: `ListVolumes` reports the nodes each
    /// volume is published to (otherwise the SDK drops them). Implies
    /// `LIST_VOLUMES` and `PUBLISH_UNPUBLISH_VOLUME`.
    pub fn list_volumes_published_nodes(self) -> Self
    where
        T: ListVolumes + PublishUnpublishVolume,
    {
        let mut b = self.list_volumes().publish_unpublish_volume();
        b.svc
            .flags
            .insert(ControllerCapability::ListVolumesPublishedNodes);
        b
    }

    /// `VOLUME_CONDITION`: `ListVolumes`/`ControllerGetVolume` report volume
    /// health (otherwise the SDK drops it).
    pub fn volume_condition(mut self) -> Self {
        self.svc.flags.insert(ControllerCapability::VolumeCondition);
        self
    }

    /// `SINGLE_NODE_MULTI_WRITER`: the plugin understands the
    /// `SINGLE_NODE_SINGLE_WRITER` and `SINGLE_NODE_MULTI_WRITER` access
    /// modes (otherwise the SDK rejects them).
    pub fn single_node_multi_writer(mut self) -> Self {
        self.svc
            .flags
            .insert(ControllerCapability::SingleNodeMultiWriter);
        self
    }

    /// The registered service.
    pub fn build(self) -> ControllerService {
        self.svc
    }
}

/// A registered Node service. Build it with [`NodeService::builder`].
#[derive(Clone)]
pub struct NodeService {
    pub(crate) base: Arc<dyn Node>,
    pub(crate) stage: Option<Arc<dyn StageUnstageVolume>>,
    pub(crate) stats: Option<Arc<dyn GetVolumeStats>>,
    pub(crate) expand: Option<(Arc<dyn NodeExpandVolume>, ExpansionMode)>,
    pub(crate) flags: BTreeSet<NodeCapability>,
}

impl NodeService {
    /// Starts registering `node`; add each capability it implements.
    pub fn builder<T: Node>(node: Arc<T>) -> NodeBuilder<T> {
        NodeBuilder {
            svc: NodeService {
                base: node.clone(),
                stage: None,
                stats: None,
                expand: None,
                flags: BTreeSet::new(),
            },
            inner: node,
        }
    }

    /// The capabilities `NodeGetCapabilities` reports.
    pub fn capabilities(&self) -> BTreeSet<NodeCapability> {
        let mut caps = self.flags.clone();
        if self.stage.is_some() {
            caps.insert(NodeCapability::StageUnstageVolume);
        }
        if self.stats.is_some() {
            caps.insert(NodeCapability::GetVolumeStats);
        }
        if self.expand.is_some() {
            caps.insert(NodeCapability::ExpandVolume);
        }
        caps
    }

    pub(crate) fn has(&self, cap: NodeCapability) -> bool {
        self.capabilities().contains(&cap)
    }
}

/// Registers the capabilities of a node plugin of type `T`.
pub struct NodeBuilder<T> {
    inner: Arc<T>,
    svc: NodeService,
}

impl<T: Node> NodeBuilder<T> {
    /// `STAGE_UNSTAGE_VOLUME`: Nomad stages before publishing.
    pub fn stage_unstage_volume(mut self) -> Self
    where
        T: StageUnstageVolume,
    {
        self.svc.stage = Some(self.inner.clone());
        self
    }

    /// `GET_VOLUME_STATS`.
    pub fn get_volume_stats(mut self) -> Self
    where
        T: GetVolumeStats,
    {
        self.svc.stats = Some(self.inner.clone());
        self
    }

    /// `EXPAND_VOLUME`, and the plugin's `VolumeExpansion` capability.
    pub fn expand_volume(mut self, mode: ExpansionMode) -> Self
    where
        T: NodeExpandVolume,
    {
        self.svc.expand = Some((self.inner.clone(), mode));
        self
    }

    /// `VOLUME_CONDITION`: `NodeGetVolumeStats` reports volume health
    /// (otherwise the SDK drops it). Implies `GET_VOLUME_STATS`.
    pub fn volume_condition(self) -> Self
    where
        T: GetVolumeStats,
    {
        let mut b = self.get_volume_stats();
        b.svc.flags.insert(NodeCapability::VolumeCondition);
        b
    }

    /// `SINGLE_NODE_MULTI_WRITER` (otherwise the SDK rejects the
    /// `SINGLE_NODE_*_WRITER` access modes).
    pub fn single_node_multi_writer(mut self) -> Self {
        self.svc.flags.insert(NodeCapability::SingleNodeMultiWriter);
        self
    }

    /// `VOLUME_MOUNT_GROUP`: the plugin applies `volume_mount_group`.
    pub fn volume_mount_group(mut self) -> Self {
        self.svc.flags.insert(NodeCapability::VolumeMountGroup);
        self
    }

    /// The registered service.
    pub fn build(self) -> NodeService {
        self.svc
    }
}

/// A CSI plugin: its identity plus the services it serves. Pass it to
/// [`serve`](super::serve) or [`run`](super::run).
#[derive(Clone)]
pub struct CsiPlugin {
    pub(crate) identity: Arc<dyn Identity>,
    pub(crate) controller: Option<ControllerService>,
    pub(crate) node: Option<NodeService>,
    pub(crate) accessibility_constraints: bool,
}

impl CsiPlugin {
    /// A plugin with only the Identity service so far.
    pub fn new<T: Identity>(identity: Arc<T>) -> Self {
        CsiPlugin {
            identity,
            controller: None,
            node: None,
            accessibility_constraints: false,
        }
    }

    /// Serves the Controller service (Nomad `type = "controller"` or
    /// `"monolith"`).
    pub fn controller(mut self, controller: ControllerService) -> Self {
        self.controller = Some(controller);
        self
    }

    /// Serves the Node service (Nomad `type = "node"` or `"monolith"`).
    pub fn node(mut self, node: NodeService) -> Self {
        self.node = Some(node);
        self
    }

    /// Advertises `VOLUME_ACCESSIBILITY_CONSTRAINTS`: volumes carry
    /// topology and `NodeGetInfo` reports the node's; Nomad then only
    /// places allocations on nodes a volume is accessible from.
    pub fn volume_accessibility_constraints(mut self) -> Self {
        self.accessibility_constraints = true;
        self
    }

    /// The capabilities `GetPluginCapabilities` reports.
    pub fn capabilities(&self) -> BTreeSet<PluginCapability> {
        let mut caps = BTreeSet::new();
        if self.controller.is_some() {
            caps.insert(PluginCapability::ControllerService);
        }
        if self.accessibility_constraints {
            caps.insert(PluginCapability::VolumeAccessibilityConstraints);
        }
        if let Some((_, mode)) = self.controller.as_ref().and_then(|c| c.expand.as_ref()) {
            caps.insert(PluginCapability::VolumeExpansion(*mode));
        }
        if let Some((_, mode)) = self.node.as_ref().and_then(|n| n.expand.as_ref()) {
            caps.insert(PluginCapability::VolumeExpansion(*mode));
        }
        caps
    }

    /// Whether the Controller service is served.
    pub fn has_controller(&self) -> bool {
        self.controller.is_some()
    }

    /// Whether the Node service is served.
    pub fn has_node(&self) -> bool {
        self.node.is_some()
    }
}

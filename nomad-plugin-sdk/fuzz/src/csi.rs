//! `csi_request`: arbitrary protobuf bytes as any CSI request, through the
//! SDK's gRPC face into a plugin that checks what the SDK promises it: a
//! request that reaches plugin code is valid (ids present, paths absolute,
//! names within the spec's limit, capabilities present, access modes the
//! plugin opted into, staging path present when the plugin stages). The
//! plugin answers with values taken from the request, some of them extreme,
//! so the conversion of answers is fuzzed too. Refusals must carry a code
//! the CSI spec uses and a message.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use nomad_plugin_sdk::csi::fuzzing::{dispatch, Outcome};
use nomad_plugin_sdk::csi::*;
use tonic::Code;

struct Fuzzed {
    stages: bool,
    multi_writer: bool,
}

fn assert_id(id: &str, what: &str) {
    assert!(!id.is_empty(), "{what} reached the plugin empty");
}

fn assert_abs(p: &std::path::Path, what: &str) {
    assert!(p.is_absolute(), "{what} reached the plugin relative: {p:?}");
}

fn assert_modes(&Fuzzed { multi_writer, .. }: &Fuzzed, caps: &[VolumeCapability]) {
    if !multi_writer {
        for c in caps {
            assert!(
                !c.access_mode.needs_single_node_multi_writer(),
                "{:?} reached a plugin without SINGLE_NODE_MULTI_WRITER",
                c.access_mode
            );
        }
    }
}

/// A time far from now in either direction, chosen by the input.
fn odd_time(seed: &str) -> SystemTime {
    match seed.len() % 3 {
        0 => SystemTime::UNIX_EPOCH - Duration::from_secs(1_000),
        1 => SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 64),
        _ => SystemTime::UNIX_EPOCH,
    }
}

fn volume(id: String, bytes: Option<u64>) -> Volume {
    Volume::new(id, bytes.unwrap_or(u64::MAX))
}

#[async_trait]
impl Identity for Fuzzed {
    async fn get_plugin_info(&self) -> CsiResult<PluginInfo> {
        Ok(PluginInfo::new("fuzz.csi.nomad-plugin-rs", "0.0.0"))
    }
}

#[async_trait]
impl Controller for Fuzzed {
    async fn validate_volume_capabilities(
        &self,
        r: ValidateVolumeCapabilitiesRequest,
    ) -> CsiResult<Validation> {
        assert_id(&r.volume_id, "volume_id");
        assert!(!r.volume_capabilities.is_empty(), "no capabilities");
        if r.volume_id.len().is_multiple_of(2) {
            Ok(Validation::Confirmed {
                capabilities: r.volume_capabilities,
                volume_context: r.volume_context,
                parameters: r.parameters,
                mutable_parameters: r.mutable_parameters,
            })
        } else {
            Ok(Validation::Unconfirmed(r.volume_id))
        }
    }
}

#[async_trait]
impl CreateDeleteVolume for Fuzzed {
    async fn create_volume(&self, r: CreateVolumeRequest) -> CsiResult<Volume> {
        assert_id(&r.name, "name");
        assert!(
            r.name.len() <= MAX_NAME_LENGTH,
            "over-long name reached the plugin"
        );
        assert!(!r.volume_capabilities.is_empty(), "no capabilities");
        assert_modes(self, &r.volume_capabilities);
        if r.name.starts_with('!') {
            // A broken plugin: the SDK must refuse to pass an empty id on.
            return Ok(volume(String::new(), None));
        }
        let mut v = volume(r.name, r.capacity_range.required_bytes);
        v.content_source = r.content_source;
        Ok(v)
    }
    async fn delete_volume(&self, r: DeleteVolumeRequest) -> CsiResult<()> {
        assert_id(&r.volume_id, "volume_id");
        Ok(())
    }
}

#[async_trait]
impl PublishUnpublishVolume for Fuzzed {
    async fn controller_publish_volume(&self, r: ControllerPublishVolumeRequest) -> CsiResult<Map> {
        assert_id(&r.volume_id, "volume_id");
        assert_id(&r.node_id, "node_id");
        assert_modes(self, std::slice::from_ref(&r.volume_capability));
        Ok(r.volume_context)
    }
    async fn controller_unpublish_volume(
        &self,
        r: ControllerUnpublishVolumeRequest,
    ) -> CsiResult<()> {
        assert_id(&r.volume_id, "volume_id");
        Ok(())
    }
}

#[async_trait]
impl ListVolumes for Fuzzed {
    async fn list_volumes(&self, page: PageRequest) -> CsiResult<Page<VolumeEntry>> {
        let all: Vec<VolumeEntry> = (0..5)
            .map(|i| {
                let condition = if i % 2 == 0 {
                    VolumeCondition::abnormal("fuzz")
                } else {
                    VolumeCondition::healthy()
                };
                VolumeEntry::new(volume(format!("vol-{i}"), Some(i)))
                    .published_node_ids([format!("node-{i}")])
                    .condition(condition)
            })
            .collect();
        page.paginate(all, |e| &e.volume.volume_id)
    }
}

#[async_trait]
impl GetCapacity for Fuzzed {
    async fn get_capacity(&self, _r: GetCapacityRequest) -> CsiResult<Capacity> {
        Ok(Capacity::new(u64::MAX)
            .maximum_volume_size(u64::MAX)
            .minimum_volume_size(0))
    }
}

#[async_trait]
impl CreateDeleteSnapshot for Fuzzed {
    async fn create_snapshot(&self, r: CreateSnapshotRequest) -> CsiResult<Snapshot> {
        assert_id(&r.name, "name");
        assert_id(&r.source_volume_id, "source_volume_id");
        assert!(
            r.name.len() <= MAX_NAME_LENGTH,
            "over-long name reached the plugin"
        );
        Ok(Snapshot::new(
            r.name.clone(),
            r.source_volume_id,
            u64::MAX,
            odd_time(&r.name),
        ))
    }
    async fn delete_snapshot(&self, id: String, _s: Secrets) -> CsiResult<()> {
        assert_id(&id, "snapshot_id");
        Ok(())
    }
}

#[async_trait]
impl ListSnapshots for Fuzzed {
    async fn list_snapshots(&self, r: ListSnapshotsRequest) -> CsiResult<Page<Snapshot>> {
        let seed = r.snapshot_id.clone().unwrap_or_default();
        let all: Vec<Snapshot> = (0..4)
            .map(|i| {
                Snapshot::new(
                    format!("snap-{i}"),
                    r.source_volume_id.clone().unwrap_or_else(|| "v".into()),
                    i,
                    odd_time(&seed),
                )
                .ready_to_use(i % 2 == 0)
            })
            .collect();
        r.page.paginate(all, |s| &s.snapshot_id)
    }
}

#[async_trait]
impl GetSnapshot for Fuzzed {
    async fn get_snapshot(&self, id: String, _s: Secrets) -> CsiResult<Snapshot> {
        assert_id(&id, "snapshot_id");
        let at = odd_time(&id);
        Ok(Snapshot::new(id, "v", 1, at))
    }
}

#[async_trait]
impl ControllerExpandVolume for Fuzzed {
    async fn controller_expand_volume(
        &self,
        r: ControllerExpandVolumeRequest,
    ) -> CsiResult<Expansion> {
        assert_id(&r.volume_id, "volume_id");
        let bytes = r
            .capacity_range
            .required_bytes
            .or(r.capacity_range.limit_bytes)
            .unwrap_or(u64::MAX);
        Ok(Expansion::new(bytes).node_expansion_required(r.volume_id.len().is_multiple_of(2)))
    }
}

#[async_trait]
impl GetVolume for Fuzzed {
    async fn controller_get_volume(&self, id: String) -> CsiResult<VolumeEntry> {
        assert_id(&id, "volume_id");
        if id.starts_with('?') {
            return Err(CsiError::NotFound(id));
        }
        Ok(VolumeEntry::new(volume(id, None)))
    }
}

#[async_trait]
impl ModifyVolume for Fuzzed {
    async fn controller_modify_volume(&self, r: ControllerModifyVolumeRequest) -> CsiResult<()> {
        assert_id(&r.volume_id, "volume_id");
        Ok(())
    }
}

#[async_trait]
impl Node for Fuzzed {
    async fn node_get_info(&self) -> CsiResult<NodeInfo> {
        Ok(NodeInfo::new("fuzz-node").max_volumes_per_node(u64::MAX))
    }
    async fn node_publish_volume(&self, r: NodePublishVolumeRequest) -> CsiResult<()> {
        assert_id(&r.volume_id, "volume_id");
        assert_abs(&r.target_path, "target_path");
        assert_modes(self, std::slice::from_ref(&r.volume_capability));
        match &r.staging_target_path {
            Some(p) => assert_abs(p, "staging_target_path"),
            None => assert!(!self.stages, "a staging plugin was published unstaged"),
        }
        Ok(())
    }
    async fn node_unpublish_volume(&self, r: NodeUnpublishVolumeRequest) -> CsiResult<()> {
        assert_id(&r.volume_id, "volume_id");
        assert_abs(&r.target_path, "target_path");
        Ok(())
    }
}

#[async_trait]
impl StageUnstageVolume for Fuzzed {
    async fn node_stage_volume(&self, r: NodeStageVolumeRequest) -> CsiResult<()> {
        assert_id(&r.volume_id, "volume_id");
        assert_abs(&r.staging_target_path, "staging_target_path");
        assert_modes(self, std::slice::from_ref(&r.volume_capability));
        Ok(())
    }
    async fn node_unstage_volume(&self, r: NodeUnstageVolumeRequest) -> CsiResult<()> {
        assert_id(&r.volume_id, "volume_id");
        assert_abs(&r.staging_target_path, "staging_target_path");
        Ok(())
    }
}

#[async_trait]
impl GetVolumeStats for Fuzzed {
    async fn node_get_volume_stats(&self, r: NodeGetVolumeStatsRequest) -> CsiResult<VolumeStats> {
        assert_id(&r.volume_id, "volume_id");
        Ok(VolumeStats::new([VolumeUsage::new(
            UsageUnit::Bytes,
            u64::MAX,
            u64::MAX,
            0,
        )]))
    }
}

#[async_trait]
impl NodeExpandVolume for Fuzzed {
    async fn node_expand_volume(&self, r: NodeExpandVolumeRequest) -> CsiResult<u64> {
        assert_id(&r.volume_id, "volume_id");
        Ok(r.capacity_range.required_bytes.unwrap_or(u64::MAX))
    }
}

/// Everything registered, staging, SINGLE_NODE_MULTI_WRITER.
fn full() -> CsiPlugin {
    let p = Arc::new(Fuzzed {
        stages: true,
        multi_writer: true,
    });
    CsiPlugin::new(p.clone())
        .volume_accessibility_constraints()
        .controller(
            ControllerService::builder(p.clone())
                .create_delete_volume()
                .publish_unpublish_volume()
                .list_volumes()
                .get_capacity()
                .create_delete_snapshot()
                .list_snapshots()
                .get_snapshot()
                .expand_volume(ExpansionMode::Online)
                .get_volume()
                .modify_volume()
                .clone_volume()
                .publish_readonly()
                .list_volumes_published_nodes()
                .volume_condition()
                .single_node_multi_writer()
                .build(),
        )
        .node(
            NodeService::builder(p)
                .stage_unstage_volume()
                .get_volume_stats()
                .expand_volume(ExpansionMode::Offline)
                .volume_condition()
                .single_node_multi_writer()
                .volume_mount_group()
                .build(),
        )
}

/// The least a plugin can be: a node without staging, a controller with
/// only the mandatory RPC.
fn minimal() -> CsiPlugin {
    let p = Arc::new(Fuzzed {
        stages: false,
        multi_writer: false,
    });
    CsiPlugin::new(p.clone())
        .controller(ControllerService::builder(p.clone()).build())
        .node(NodeService::builder(p).build())
}

/// Codes a CSI plugin answers with (spec, "Error Scheme").
const SPEC_CODES: &[Code] = &[
    Code::InvalidArgument,
    Code::NotFound,
    Code::AlreadyExists,
    Code::FailedPrecondition,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::ResourceExhausted,
    Code::Aborted,
    Code::Internal,
    Code::Unavailable,
];

/// First byte: the RPC; second: which plugin; the rest: the request.
pub fn csi_request(data: &[u8]) {
    static PLUGINS: OnceLock<[Arc<CsiPlugin>; 2]> = OnceLock::new();
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let [rpc, which, body @ ..] = data else {
        return;
    };
    let plugins = PLUGINS.get_or_init(|| [Arc::new(full()), Arc::new(minimal())]);
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    });
    let plugin = &plugins[usize::from(*which) % plugins.len()];
    match rt.block_on(dispatch(plugin, usize::from(*rpc), body)) {
        Outcome::Undecodable | Outcome::Answered(_) => {}
        Outcome::Refused(status) => {
            assert!(
                SPEC_CODES.contains(&status.code()),
                "refused with {:?}: {}",
                status.code(),
                status.message()
            );
            assert!(!status.message().is_empty(), "a refusal without a message");
        }
    }
}

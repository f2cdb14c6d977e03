//! Entry point for the fuzz crate (`nomad-plugin-sdk/fuzz`, target
//! `csi_request`), behind the internal feature `fuzzing`.
//!
//! Not a stable API: it exists so a fuzzer can push arbitrary protobuf bytes
//! through exactly the code a CO's request meets (decoding, the SDK's
//! validation, capability enforcement, the call into the plugin and the
//! conversion of its answer) without a socket in between.

use std::sync::Arc;

use nomad_plugin_proto::csi as pb;
use pb::controller_server::Controller as _;
use pb::identity_server::Identity as _;
use pb::node_server::Node as _;
use prost::Message;
use tonic::{Request, Status};

use super::grpc::{ControllerGrpc, IdentityGrpc, NodeGrpc};
use super::plugin::CsiPlugin;

/// The RPCs [`dispatch`] knows, by index (the fuzzer picks one with its
/// first byte).
pub const RPCS: &[&str] = &[
    "GetPluginInfo",
    "GetPluginCapabilities",
    "Probe",
    "CreateVolume",
    "DeleteVolume",
    "ControllerPublishVolume",
    "ControllerUnpublishVolume",
    "ValidateVolumeCapabilities",
    "ListVolumes",
    "GetCapacity",
    "ControllerGetCapabilities",
    "CreateSnapshot",
    "DeleteSnapshot",
    "ListSnapshots",
    "GetSnapshot",
    "ControllerExpandVolume",
    "ControllerGetVolume",
    "ControllerModifyVolume",
    "NodeStageVolume",
    "NodeUnstageVolume",
    "NodePublishVolume",
    "NodeUnpublishVolume",
    "NodeGetVolumeStats",
    "NodeExpandVolume",
    "NodeGetCapabilities",
    "NodeGetInfo",
];

/// What one dispatched call came to.
#[derive(Debug)]
pub enum Outcome {
    /// The bytes were not a valid protobuf message of the RPC's request
    /// type (tonic would have refused them before the SDK saw them).
    Undecodable,
    /// The call answered; the response re-encoded to this many bytes.
    Answered(usize),
    /// The call was refused with this status.
    Refused(Status),
}

fn decode<M: Message + Default>(body: &[u8]) -> Option<Request<M>> {
    M::decode(body).ok().map(Request::new)
}

macro_rules! rpc {
    ($svc:expr, $method:ident, $body:expr) => {
        match decode($body) {
            None => Outcome::Undecodable,
            Some(req) => match $svc.$method(req).await {
                Ok(resp) => Outcome::Answered(resp.into_inner().encoded_len()),
                Err(status) => Outcome::Refused(status),
            },
        }
    };
}

/// Decodes `body` as the request of `RPCS[rpc % RPCS.len()]` and runs it
/// through the plugin's gRPC face, as the server would.
pub async fn dispatch(plugin: &Arc<CsiPlugin>, rpc: usize, body: &[u8]) -> Outcome {
    let identity = IdentityGrpc(plugin.clone());
    let controller = ControllerGrpc(plugin.clone());
    let node = NodeGrpc(plugin.clone());
    match rpc % RPCS.len() {
        0 => rpc!(identity, get_plugin_info, body),
        1 => rpc!(identity, get_plugin_capabilities, body),
        2 => rpc!(identity, probe, body),
        3 => rpc!(controller, create_volume, body),
        4 => rpc!(controller, delete_volume, body),
        5 => rpc!(controller, controller_publish_volume, body),
        6 => rpc!(controller, controller_unpublish_volume, body),
        7 => rpc!(controller, validate_volume_capabilities, body),
        8 => rpc!(controller, list_volumes, body),
        9 => rpc!(controller, get_capacity, body),
        10 => rpc!(controller, controller_get_capabilities, body),
        11 => rpc!(controller, create_snapshot, body),
        12 => rpc!(controller, delete_snapshot, body),
        13 => rpc!(controller, list_snapshots, body),
        14 => rpc!(controller, get_snapshot, body),
        15 => rpc!(controller, controller_expand_volume, body),
        16 => rpc!(controller, controller_get_volume, body),
        17 => rpc!(controller, controller_modify_volume, body),
        18 => rpc!(node, node_stage_volume, body),
        19 => rpc!(node, node_unstage_volume, body),
        20 => rpc!(node, node_publish_volume, body),
        21 => rpc!(node, node_unpublish_volume, body),
        22 => rpc!(node, node_get_volume_stats, body),
        23 => rpc!(node, node_expand_volume, body),
        24 => rpc!(node, node_get_capabilities, body),
        _ => rpc!(node, node_get_info, body),
    }
}

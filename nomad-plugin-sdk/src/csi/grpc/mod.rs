//! The gRPC face of a [`CsiPlugin`]: converts wire requests into validated
//! Rust requests, calls the plugin, converts the answer back, and enforces
//! what the registered capabilities promise.

use std::future::Future;
use std::sync::Arc;

use nomad_plugin_proto::csi as pb;
use tonic::{Request, Response, Status};

use super::error::{CsiError, CsiResult};
use super::pagination::PageRequest;
use super::plugin::{
    ControllerCapability, ControllerService, CsiPlugin, ExpansionMode, NodeCapability, NodeService,
    PluginCapability,
};
use super::requests::*;
use super::types::{
    bytes_out, map_out, ContentSource, Secrets, Validation, VolumeCapability, VolumeEntry,
};

/// Runs one RPC: logs a failure, and turns the plugin's error into the status
/// Nomad sees.
async fn call<T>(
    rpc: &'static str,
    fut: impl Future<Output = CsiResult<T>>,
) -> Result<Response<T>, Status> {
    match fut.await {
        Ok(v) => Ok(Response::new(v)),
        Err(e) => {
            match e {
                CsiError::Internal(_) | CsiError::Unavailable(_) => {
                    tracing::error!(rpc, code = ?e.code(), error = %e.message(), "CSI call failed")
                }
                _ => {
                    tracing::info!(rpc, code = ?e.code(), error = %e.message(), "CSI call refused")
                }
            }
            Err(e.into())
        }
    }
}

fn unimplemented<T>(rpc: &str) -> CsiResult<T> {
    Err(CsiError::unimplemented(rpc))
}

/// Access modes the plugin did not opt into are invalid arguments.
fn check_modes<'a>(
    caps: impl IntoIterator<Item = &'a VolumeCapability>,
    single_node_multi_writer: bool,
) -> CsiResult<()> {
    for c in caps {
        if c.access_mode.needs_single_node_multi_writer() && !single_node_multi_writer {
            return Err(CsiError::InvalidArgument(format!(
                "access mode {:?} needs the SINGLE_NODE_MULTI_WRITER capability, which this plugin does not have",
                c.access_mode
            )));
        }
    }
    Ok(())
}

pub(crate) struct IdentityGrpc(pub(crate) Arc<CsiPlugin>);
pub(crate) struct ControllerGrpc(pub(crate) Arc<CsiPlugin>);
pub(crate) struct NodeGrpc(pub(crate) Arc<CsiPlugin>);

mod controller;
mod identity;
mod node;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csi::types::{AccessMode, Map, PluginInfo, Volume};
    use crate::csi::{
        Controller, ControllerService, CreateDeleteVolume, Identity, NodeInfo, NodeService,
    };
    use nomad_plugin_proto::csi::controller_server::Controller as _;
    use nomad_plugin_proto::csi::identity_server::Identity as _;
    use nomad_plugin_proto::csi::node_server::Node as _;

    struct Fake {
        node_id: &'static str,
    }

    #[async_trait::async_trait]
    impl Identity for Fake {
        async fn get_plugin_info(&self) -> CsiResult<PluginInfo> {
            Ok(PluginInfo {
                name: "fake".into(),
                ..Default::default()
            })
        }
    }

    #[async_trait::async_trait]
    impl Controller for Fake {
        async fn validate_volume_capabilities(
            &self,
            r: ValidateVolumeCapabilitiesRequest,
        ) -> CsiResult<Validation> {
            Ok(Validation::Confirmed {
                capabilities: r.volume_capabilities,
                volume_context: Map::new(),
                parameters: Map::new(),
                mutable_parameters: Map::new(),
            })
        }
    }

    #[async_trait::async_trait]
    impl CreateDeleteVolume for Fake {
        async fn create_volume(&self, r: CreateVolumeRequest) -> CsiResult<Volume> {
            Ok(Volume {
                volume_id: r.name,
                ..Default::default()
            })
        }
        async fn delete_volume(&self, _: DeleteVolumeRequest) -> CsiResult<()> {
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl crate::csi::Node for Fake {
        async fn node_get_info(&self) -> CsiResult<NodeInfo> {
            Ok(NodeInfo {
                node_id: self.node_id.into(),
                ..Default::default()
            })
        }
        async fn node_publish_volume(&self, _: NodePublishVolumeRequest) -> CsiResult<()> {
            Ok(())
        }
        async fn node_unpublish_volume(&self, _: NodeUnpublishVolumeRequest) -> CsiResult<()> {
            Ok(())
        }
    }

    fn plugin(ctrl: ControllerService, node_id: &'static str) -> Arc<CsiPlugin> {
        let f = Arc::new(Fake { node_id });
        Arc::new(
            CsiPlugin::new(f.clone())
                .controller(ctrl)
                .node(NodeService::builder(f).build()),
        )
    }

    fn cap(mode: AccessMode) -> pb::VolumeCapability {
        VolumeCapability::mount(mode).to_wire()
    }

    #[tokio::test]
    async fn advertised_capabilities_follow_registration() {
        let f = Arc::new(Fake { node_id: "n" });
        let bare = ControllerService::builder(f.clone()).build();
        assert!(bare.capabilities().is_empty());
        let cloning = ControllerService::builder(f).clone_volume().build();
        assert_eq!(
            cloning.capabilities().into_iter().collect::<Vec<_>>(),
            vec![
                ControllerCapability::CreateDeleteVolume,
                ControllerCapability::CloneVolume
            ]
        );
        let p = plugin(cloning, "n");
        let wire = ControllerGrpc(p.clone())
            .controller_get_capabilities(Request::new(Default::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(wire.capabilities.len(), 2);
        let plugin_caps = IdentityGrpc(p)
            .get_plugin_capabilities(Request::new(Default::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(plugin_caps.capabilities.len(), 1, "CONTROLLER_SERVICE only");
    }

    #[tokio::test]
    async fn unregistered_rpcs_are_unimplemented_and_flags_are_enforced() {
        let f = Arc::new(Fake { node_id: "n" });
        let p = plugin(
            ControllerService::builder(f).create_delete_volume().build(),
            "n",
        );
        let grpc = ControllerGrpc(p.clone());
        let err = grpc
            .list_volumes(Request::new(Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented);
        let clone_req = pb::CreateVolumeRequest {
            name: "v".into(),
            volume_capabilities: vec![cap(AccessMode::SingleNodeWriter)],
            volume_content_source: Some(ContentSource::Volume("src".into()).to_wire()),
            ..Default::default()
        };
        let err = grpc
            .create_volume(Request::new(clone_req))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let snmw = pb::CreateVolumeRequest {
            name: "v".into(),
            volume_capabilities: vec![cap(AccessMode::SingleNodeMultiWriter)],
            ..Default::default()
        };
        let err = grpc.create_volume(Request::new(snmw)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let ok = pb::CreateVolumeRequest {
            name: "v".into(),
            volume_capabilities: vec![cap(AccessMode::SingleNodeWriter)],
            ..Default::default()
        };
        let v = grpc
            .create_volume(Request::new(ok))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(v.volume.unwrap().volume_id, "v");
        // NodeStageVolume was not registered (no STAGE_UNSTAGE_VOLUME).
        let err = NodeGrpc(p)
            .node_stage_volume(Request::new(Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented);
    }

    #[tokio::test]
    async fn empty_node_id_is_reported_not_forwarded() {
        let f = Arc::new(Fake { node_id: "" });
        let p = plugin(ControllerService::builder(f).build(), "");
        let err = NodeGrpc(p)
            .node_get_info(Request::new(Default::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Internal);
        assert!(err.message().contains("empty node_id"));
    }
}

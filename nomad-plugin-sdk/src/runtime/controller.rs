//! `plugin.GRPCController`: the host asks the plugin to stop.

use nomad_plugin_proto::go_plugin::grpc_controller_server::GrpcController;
use nomad_plugin_proto::go_plugin::Empty;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

/// Answers `Shutdown` and tells the serve loop to stop. go-plugin hosts give
/// the process two seconds to exit afterwards before they kill it.
#[derive(Debug, Clone)]
pub(crate) struct Controller {
    pub(crate) stop: watch::Sender<bool>,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::debug!("host asked the plugin to shut down");
        let _ = self.stop.send(true);
        Ok(Response::new(Empty {}))
    }
}

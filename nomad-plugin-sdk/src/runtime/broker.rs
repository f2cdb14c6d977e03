//! `plugin.GRPCBroker`: brokered side connections between host and plugin.
//!
//! Nomad never uses the broker. The stream is accepted and kept open so a
//! host that opens it (every go-plugin client does) works normally; a
//! request for a brokered connection is answered with an error in the
//! knock reply instead of leaving the host waiting.

use std::pin::Pin;

use futures::Stream;
use nomad_plugin_proto::go_plugin::conn_info::Knock;
use nomad_plugin_proto::go_plugin::grpc_broker_server::GrpcBroker;
use nomad_plugin_proto::go_plugin::ConnInfo;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

#[derive(Debug, Default, Clone)]
pub(crate) struct Broker;

type ConnInfoStream = Pin<Box<dyn Stream<Item = Result<ConnInfo, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = ConnInfoStream;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut incoming = request.into_inner();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            // Ends when the host closes its side or goes away.
            while let Ok(Some(info)) = incoming.message().await {
                tracing::debug!(
                    service_id = info.service_id,
                    "broker connection offered by host; brokered connections are not supported"
                );
                if info.knock.as_ref().is_some_and(|k| k.knock) {
                    let reply = ConnInfo {
                        service_id: info.service_id,
                        network: String::new(),
                        address: String::new(),
                        knock: Some(Knock {
                            knock: false,
                            ack: false,
                            error: "this plugin does not accept brokered connections".into(),
                        }),
                    };
                    if tx.send(Ok(reply)).await.is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

//! A CSI client that connects and probes the way Nomad's client does
//! (`plugins/csi/client.go`): an insecure gRPC connection to the Unix
//! socket, `Probe` with a 5 s deadline, a first probe at once and then one
//! every 5 s until `health_timeout` (30 s by default), an unset `ready`
//! counting as ready.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nomad_plugin_proto::csi::controller_client::ControllerClient;
use nomad_plugin_proto::csi::identity_client::IdentityClient;
use nomad_plugin_proto::csi::node_client::NodeClient;
use nomad_plugin_proto::csi::ProbeRequest;
use tonic::transport::Channel;

use crate::launch::{connect, Endpoint};

/// Nomad's probing parameters.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Give up after this long (Nomad's `csi_plugin.health_timeout`, 30 s).
    pub health_timeout: Duration,
    /// Time between probes after the first (Nomad: 5 s).
    pub interval: Duration,
    /// Deadline of one probe (Nomad: 5 s).
    pub probe_timeout: Duration,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            health_timeout: Duration::from_secs(30),
            interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(5),
        }
    }
}

/// Probing did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No gRPC connection could be made.
    #[error("cannot connect to {socket}: {message}; Nomad would keep the plugin unhealthy")]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// Why.
        message: String,
    },
    /// The plugin never answered ready.
    #[error("the plugin did not probe ready within {timeout:?} (last answer: {last}); Nomad would mark the csi_plugin task unhealthy and never use it")]
    NotReady {
        /// The health timeout.
        timeout: Duration,
        /// The last answer or error.
        last: String,
    },
}

/// Clients for the three CSI services on one connection.
#[derive(Debug, Clone)]
pub struct CsiClient {
    socket: PathBuf,
    /// `csi.v1.Identity`.
    pub identity: IdentityClient<Channel>,
    /// `csi.v1.Controller`.
    pub controller: ControllerClient<Channel>,
    /// `csi.v1.Node`.
    pub node: NodeClient<Channel>,
}

impl CsiClient {
    /// Connects to a plugin's Unix socket.
    pub async fn connect(socket: &Path) -> Result<Self, ProbeError> {
        let channel = connect(&Endpoint::Unix(socket.to_path_buf()))
            .await
            .map_err(|e| ProbeError::Connect {
                socket: socket.to_path_buf(),
                message: e.to_string(),
            })?;
        Ok(CsiClient {
            socket: socket.to_path_buf(),
            identity: IdentityClient::new(channel.clone()),
            controller: ControllerClient::new(channel.clone()),
            node: NodeClient::new(channel),
        })
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// One probe as Nomad makes it: `Ok(true)` when ready (or `ready`
    /// unset).
    pub async fn probe(&self, timeout: Duration) -> Result<bool, String> {
        let mut identity = self.identity.clone();
        match tokio::time::timeout(timeout, identity.probe(ProbeRequest {})).await {
            Err(_) => Err(format!("no answer within {timeout:?}")),
            Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
            Ok(Ok(r)) => Ok(r.into_inner().ready.unwrap_or(true)),
        }
    }

    /// Probes like Nomad until the plugin is ready or `health_timeout`
    /// passes. Returns how many probes it took.
    pub async fn probe_until_ready(&self, options: &ProbeOptions) -> Result<u32, ProbeError> {
        let deadline = Instant::now() + options.health_timeout;
        let mut probes = 0;
        loop {
            probes += 1;
            let last = match self.probe(options.probe_timeout).await {
                Ok(true) => return Ok(probes),
                Ok(false) => "ready = false".to_string(),
                Err(e) => e,
            };
            if Instant::now() + options.interval > deadline {
                return Err(ProbeError::NotReady {
                    timeout: options.health_timeout,
                    last,
                });
            }
            // Nomad's own cadence between probes, not a synchronisation.
            tokio::time::sleep(options.interval).await;
        }
    }
}

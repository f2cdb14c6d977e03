//! A launched driver plugin as the Nomad client's driver manager holds it:
//! configured, initialised, with its Fingerprint and TaskEvents streams open
//! and read in the background.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_proto::nomad::base::{
    ClientTopology, ClientTopologyCore, NomadConfig, NomadDriverConfig, SetConfigRequest,
};
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::{
    DriverTaskEvent, FingerprintRequest, FingerprintResponse, InitRequest, TaskEventsRequest,
};
use tokio::sync::Notify;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::launch::{Launcher, RunningPlugin};

/// How a server stream ended.
#[derive(Debug, Clone)]
pub(crate) enum StreamEnd {
    /// Clean end (OK status).
    Ok,
    /// The plugin ended it with an error status.
    Status(tonic::Status),
}

impl std::fmt::Display for StreamEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamEnd::Ok => write!(f, "ended cleanly"),
            StreamEnd::Status(s) => write!(f, "ended with {:?}: {}", s.code(), s.message()),
        }
    }
}

struct WatchState<T> {
    items: Vec<(Instant, T)>,
    end: Option<(Instant, StreamEnd)>,
}

/// Reads a server stream in the background and keeps what arrives.
pub(crate) struct StreamWatch<T> {
    state: Arc<Mutex<WatchState<T>>>,
    changed: Arc<Notify>,
    reader: tokio::task::JoinHandle<()>,
    opened: Instant,
}

impl<T: Clone + Send + 'static> StreamWatch<T> {
    pub(crate) fn start(
        open: impl std::future::Future<
                Output = Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>,
            > + Send
            + 'static,
    ) -> Self {
        let state = Arc::new(Mutex::new(WatchState {
            items: Vec::new(),
            end: None,
        }));
        let changed = Arc::new(Notify::new());
        let (s, c) = (state.clone(), changed.clone());
        let reader = tokio::spawn(async move {
            let finish = |end: StreamEnd| {
                if let Ok(mut st) = s.lock() {
                    st.end = Some((Instant::now(), end));
                }
                c.notify_waiters();
            };
            let mut stream = match open.await {
                Ok(r) => r.into_inner(),
                Err(status) => return finish(StreamEnd::Status(status)),
            };
            loop {
                match stream.message().await {
                    Ok(Some(item)) => {
                        if let Ok(mut st) = s.lock() {
                            st.items.push((Instant::now(), item));
                        }
                        c.notify_waiters();
                    }
                    Ok(None) => return finish(StreamEnd::Ok),
                    Err(status) => return finish(StreamEnd::Status(status)),
                }
            }
        });
        StreamWatch {
            state,
            changed,
            reader,
            opened: Instant::now(),
        }
    }

    /// Messages so far, with arrival times.
    pub(crate) fn items(&self) -> Vec<(Instant, T)> {
        self.state
            .lock()
            .map(|s| s.items.clone())
            .unwrap_or_default()
    }

    /// How the stream ended, if it has.
    pub(crate) fn end(&self) -> Option<(Instant, StreamEnd)> {
        self.state.lock().ok().and_then(|s| s.end.clone())
    }

    /// When the stream was opened.
    pub(crate) fn opened(&self) -> Instant {
        self.opened
    }

    /// Waits until `pred` holds on (items, end), up to `timeout`.
    pub(crate) async fn wait_until(
        &self,
        timeout: Duration,
        pred: impl Fn(&[(Instant, T)], Option<&StreamEnd>) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let holds = self
                .state
                .lock()
                .map(|s| pred(&s.items, s.end.as_ref().map(|e| &e.1)))
                .unwrap_or(false);
            if holds {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self
                    .state
                    .lock()
                    .map(|s| pred(&s.items, s.end.as_ref().map(|e| &e.1)))
                    .unwrap_or(false);
            }
        }
    }

    /// Waits for `n` messages or the end of the stream; true if `n` arrived.
    pub(crate) async fn wait_count(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |items, end| items.len() >= n || end.is_some())
            .await;
        self.items().len() >= n
    }
}

impl<T> Drop for StreamWatch<T> {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The agent part of `SetConfig` on the real instance (launch #3): Nomad's
/// default dynamic port range and this machine's cores.
pub(crate) fn agent_config() -> NomadConfig {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    NomadConfig {
        driver: Some(NomadDriverConfig {
            client_max_port: 32000,
            client_min_port: 20000,
            topology: Some(ClientTopology {
                node_ids: vec![0],
                distances: None,
                cores: (0..cores)
                    .map(|core_id| ClientTopologyCore {
                        socket_id: 0,
                        node_id: 0,
                        core_id,
                        core_grade: 0,
                        disable: false,
                        base_speed: 2000,
                        max_speed: 3000,
                        guess_speed: 0,
                    })
                    .collect(),
                override_total_compute: 0,
                override_withold_compute: 0,
            }),
        }),
    }
}

/// A driver plugin instance as the driver manager holds it.
pub(crate) struct Instance {
    pub plugin: RunningPlugin,
    pub client: DriverClient<Channel>,
    pub fingerprints: StreamWatch<FingerprintResponse>,
    pub events: StreamWatch<DriverTaskEvent>,
}

impl Instance {
    /// Launch #3: handshake, `SetConfig` with the agent config, `Init`
    /// (Unimplemented tolerated), then Fingerprint and TaskEvents opened
    /// concurrently. Errors are phrased as what Nomad would do.
    pub(crate) async fn launch(
        launcher: Launcher,
        msgpack_config: Vec<u8>,
        api_version: &str,
        patience: Duration,
    ) -> Result<Instance, String> {
        let plugin = launcher.launch().await.map_err(|e| {
            format!("Nomad could not start the plugin, so the driver is never detected: {e}")
        })?;
        let mut base = BasePluginClient::new(plugin.channel());
        let req = SetConfigRequest {
            msgpack_config,
            nomad_config: Some(agent_config()),
            plugin_api_version: api_version.into(),
        };
        match tokio::time::timeout(patience, base.set_config(req)).await {
            Ok(Ok(_)) => {}
            Ok(Err(s)) => {
                let _ = plugin.kill().await;
                return Err(format!(
                    "SetConfig with the agent config failed ({:?}: {}): Nomad fails to dispense the driver and never fingerprints it",
                    s.code(),
                    s.message()
                ));
            }
            Err(_) => {
                let _ = plugin.kill().await;
                return Err(format!(
                    "SetConfig did not answer within {patience:?}: the Nomad client would hang starting the driver"
                ));
            }
        }
        let mut client = DriverClient::new(plugin.channel());
        match tokio::time::timeout(patience, client.init(InitRequest {})).await {
            Ok(Ok(_)) => {}
            Ok(Err(s)) if s.code() == tonic::Code::Unimplemented => {}
            Ok(Err(s)) => {
                let _ = plugin.kill().await;
                return Err(format!(
                    "Init failed ({:?}: {}): Nomad 2.0.4+ kills the plugin and the dispense fails",
                    s.code(),
                    s.message()
                ));
            }
            Err(_) => {
                let _ = plugin.kill().await;
                return Err(format!(
                    "Init did not answer within {patience:?}: the Nomad client would hang starting the driver"
                ));
            }
        }
        Ok(Instance::open(plugin, client))
    }

    /// Opens the Fingerprint and TaskEvents streams, as the driver manager
    /// does once it holds a dispensed (or reattached) driver.
    fn open(plugin: RunningPlugin, client: DriverClient<Channel>) -> Instance {
        let mut fp = client.clone();
        let fingerprints =
            StreamWatch::start(async move { fp.fingerprint(FingerprintRequest {}).await });
        let mut ev = client.clone();
        let events = StreamWatch::start(async move { ev.task_events(TaskEventsRequest {}).await });
        Instance {
            plugin,
            client,
            fingerprints,
            events,
        }
    }

    /// An agent that died and came back: every connection of this host to
    /// the plugin is dropped (the plugin keeps running), then the driver
    /// manager reattaches by address and pid, without `SetConfig` or
    /// `Init`, and opens its streams again (`drivermanager/instance.go`,
    /// `dispense` with a stored reattach config).
    pub(crate) async fn reattach(self) -> Result<Instance, (RunningPlugin, String)> {
        let Instance {
            mut plugin,
            client,
            fingerprints,
            events,
        } = self;
        drop(client);
        drop(fingerprints);
        drop(events);
        if let Err(e) = plugin.reconnect().await {
            let msg = format!("the restarted agent could not reattach to the plugin: {e}");
            return Err((plugin, msg));
        }
        let client = DriverClient::new(plugin.channel());
        Ok(Instance::open(plugin, client))
    }

    /// Whether the plugin still answers (a cheap `Capabilities` call).
    pub(crate) async fn serving(&self, patience: Duration) -> Result<(), String> {
        let mut c = self.client.clone();
        match tokio::time::timeout(
            patience,
            c.capabilities(nomad_plugin_proto::nomad::drivers::CapabilitiesRequest {}),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(s)) => Err(format!(
                "the plugin stopped serving (Capabilities: {:?}: {}): Nomad marks the driver unhealthy and every task on it is lost until it is relaunched",
                s.code(),
                s.message()
            )),
            Err(_) => Err(format!(
                "the plugin stopped answering (Capabilities took longer than {patience:?})"
            )),
        }
    }
}

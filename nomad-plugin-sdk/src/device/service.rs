//! The `hashicorp.nomad.plugins.device.DevicePlugin` service over a
//! [`Device`].

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::{FutureExt, Stream};
use nomad_plugin_proto::nomad::device as pb;
use nomad_plugin_proto::nomad::device::device_plugin_server::DevicePlugin as DevicePluginRpc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{validate_fingerprint, Device, DeviceGroup, FingerprintDiff};
use crate::PluginError;

/// Stats interval when Nomad sends none or zero, as Go plugins do.
const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(1);
/// First retry delay after a failed fingerprint; doubles up to the period.
const FIRST_RETRY: Duration = Duration::from_secs(1);

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Serves `DevicePlugin` for a [`Device`].
pub(crate) struct DeviceService<P> {
    plugin: Arc<P>,
    /// Instance ids of the latest good fingerprint, for Reserve.
    known: Arc<Mutex<Option<HashSet<String>>>>,
}

impl<P: Device> DeviceService<P> {
    pub(crate) fn new(plugin: Arc<P>) -> Self {
        DeviceService {
            plugin,
            known: Arc::new(Mutex::new(None)),
        }
    }
}

fn remember(known: &Mutex<Option<HashSet<String>>>, groups: &[DeviceGroup]) {
    let ids = groups
        .iter()
        .flat_map(|g| g.devices.iter().map(|d| d.id.clone()))
        .collect();
    *known.lock().unwrap_or_else(|e| e.into_inner()) = Some(ids);
}

/// Runs the plugin's fingerprint, turning a panic or an invalid snapshot
/// into an error.
async fn fingerprint_once<P: Device>(plugin: &P) -> Result<Vec<DeviceGroup>, PluginError> {
    let groups = AssertUnwindSafe(plugin.fingerprint())
        .catch_unwind()
        .await
        .map_err(|_| PluginError::Internal("the plugin panicked while fingerprinting".into()))??;
    validate_fingerprint(&groups).map_err(|e| PluginError::Internal(e.to_string()))?;
    Ok(groups)
}

/// What is sent while fingerprinting fails: the last good devices, marked
/// unhealthy with the error, so no new allocation gets them and operators
/// see why; an empty list before any success.
fn degraded(last_good: Option<&Vec<DeviceGroup>>, error: &PluginError) -> Vec<DeviceGroup> {
    let Some(groups) = last_good else {
        return Vec::new();
    };
    groups
        .iter()
        .cloned()
        .map(|mut g| {
            for d in &mut g.devices {
                d.healthy = false;
                d.health_description = format!("fingerprinting failed: {error}");
            }
            g
        })
        .collect()
}

/// The fingerprint loop of one stream: fingerprint now, then every period
/// or when the plugin reports a change; send a snapshot whenever it
/// differs from the previous one sent. Ends only when the stream's reader
/// goes away.
async fn fingerprint_loop<P: Device>(
    plugin: Arc<P>,
    known: Arc<Mutex<Option<HashSet<String>>>>,
    tx: mpsc::Sender<Result<pb::FingerprintResponse, Status>>,
) {
    let mut last_sent: Option<Vec<DeviceGroup>> = None;
    let mut last_good: Option<Vec<DeviceGroup>> = None;
    let mut retry = FIRST_RETRY;
    loop {
        let period = plugin.fingerprint_period().max(Duration::from_millis(10));
        let (snapshot, wait) = match fingerprint_once(plugin.as_ref()).await {
            Ok(groups) => {
                retry = FIRST_RETRY;
                remember(&known, &groups);
                last_good = Some(groups.clone());
                (groups, period)
            }
            Err(e) => {
                tracing::error!(error = %e, retry_in = ?retry.min(period), "device fingerprint failed");
                let wait = retry.min(period);
                retry = (retry * 2).min(period);
                (degraded(last_good.as_ref(), &e), wait)
            }
        };
        let changed = match &last_sent {
            None => true,
            Some(prev) => {
                let diff = FingerprintDiff::between(prev, &snapshot);
                if !diff.is_empty() {
                    tracing::debug!(%diff, "device fingerprint changed");
                }
                !diff.is_empty()
            }
        };
        if changed {
            let msg = pb::FingerprintResponse {
                device_group: snapshot.iter().map(DeviceGroup::to_proto).collect(),
            };
            if tx.send(Ok(msg)).await.is_err() {
                return;
            }
            last_sent = Some(snapshot);
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = plugin.changed() => {}
        }
    }
}

async fn stats_loop<P: Device>(
    plugin: Arc<P>,
    interval: Duration,
    tx: mpsc::Sender<Result<pb::StatsResponse, Status>>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = ticker.tick() => {}
        }
        let now = SystemTime::now();
        match AssertUnwindSafe(plugin.stats()).catch_unwind().await {
            Ok(Ok(groups)) => {
                let msg = pb::StatsResponse {
                    groups: groups.iter().map(|g| g.to_proto(now)).collect(),
                };
                if tx.send(Ok(msg)).await.is_err() {
                    return;
                }
            }
            // Nomad keeps the previous statistics; try again next tick
            // rather than end the stream (an ended stream stops collection).
            Ok(Err(e)) => tracing::warn!(error = %e, "device stats collection failed"),
            Err(_) => tracing::error!("the plugin panicked while collecting device stats"),
        }
    }
}

/// The collection interval Nomad asked for: zero or absent means one
/// second; a negative one is refused.
fn stats_interval(req: &pb::StatsRequest) -> Result<Duration, Status> {
    let Some(d) = req.collection_interval else {
        return Ok(DEFAULT_STATS_INTERVAL);
    };
    let d = Duration::try_from(d).map_err(|_| {
        Status::invalid_argument(format!(
            "failed to parse collection interval: {}s {}ns is negative or out of range",
            d.seconds, d.nanos
        ))
    })?;
    Ok(if d.is_zero() {
        DEFAULT_STATS_INTERVAL
    } else {
        d
    })
}

#[tonic::async_trait]
impl<P: Device> DevicePluginRpc for DeviceService<P> {
    type FingerprintStream = BoxStream<pb::FingerprintResponse>;
    type StatsStream = BoxStream<pb::StatsResponse>;

    async fn fingerprint(
        &self,
        _request: Request<pb::FingerprintRequest>,
    ) -> Result<Response<Self::FingerprintStream>, Status> {
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(fingerprint_loop(
            self.plugin.clone(),
            self.known.clone(),
            tx,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn reserve(
        &self,
        request: Request<pb::ReserveRequest>,
    ) -> Result<Response<pb::ReserveResponse>, Status> {
        let ids = request.into_inner().device_ids;
        if ids.is_empty() {
            // Nothing asked, nothing to expose; still a reservation, never
            // nil (the client dereferences it).
            return Ok(Response::new(pb::ReserveResponse {
                container_res: Some(pb::ContainerReservation::default()),
            }));
        }
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let known = match known {
            Some(k) => k,
            // Reserve before any fingerprint (a launcher, a restart race):
            // fingerprint once to know what exists.
            None => {
                let groups = fingerprint_once(self.plugin.as_ref()).await.map_err(|e| {
                    Status::from(PluginError::Retryable(format!(
                        "cannot reserve devices: fingerprinting failed: {e}"
                    )))
                })?;
                remember(&self.known, &groups);
                groups
                    .iter()
                    .flat_map(|g| g.devices.iter().map(|d| d.id.clone()))
                    .collect()
            }
        };
        let unknown: Vec<&str> = ids
            .iter()
            .filter(|id| !known.contains(*id))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(PluginError::NotFound(format!(
                "unknown device IDs: {}",
                unknown.join(",")
            ))
            .into());
        }
        // A panic here is caught by the runtime's RPC policy layer, which
        // answers INTERNAL and logs it, as for every other RPC.
        let res = self.plugin.reserve(&ids).await.map_err(|e| {
            tracing::warn!(error = %e, ids = ?ids, "device reservation failed");
            Status::from(e)
        })?;
        res.validate().map_err(|e| {
            Status::from(PluginError::Internal(format!(
                "the plugin's reservation is invalid: {e}"
            )))
        })?;
        Ok(Response::new(pb::ReserveResponse {
            container_res: Some(res.to_proto()),
        }))
    }

    async fn stats(
        &self,
        request: Request<pb::StatsRequest>,
    ) -> Result<Response<Self::StatsStream>, Status> {
        let interval = stats_interval(request.get_ref())?;
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(stats_loop(self.plugin.clone(), interval, tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

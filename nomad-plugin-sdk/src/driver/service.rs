//! `hashicorp.nomad.plugins.drivers.proto.Driver` over a [`Driver`]: the
//! RPCs and the guarantees Nomad's Go client relies on (the conversions are
//! in `wire.rs`).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use std::panic::AssertUnwindSafe;

use futures::{FutureExt, Stream};
use nomad_plugin_proto::nomad::drivers as pb;
use nomad_plugin_proto::nomad::drivers::driver_server::{Driver as DriverRpc, DriverServer};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::wire::*;
use super::*;
use crate::config::schema::ConfigSchema;

/// Version of the driver-state encoding in task handles (0 is reserved by
/// Nomad for pre-0.9 handles).
const HANDLE_VERSION: i32 = 1;

pub(super) fn routes<D: Driver>(driver: Arc<D>) -> tonic::service::Routes {
    let mut routes = crate::base::base_routes(driver.clone(), crate::base::PluginKind::Driver);
    routes.add_service(crate::runtime::limit_message_size!(DriverServer::new(
        DriverService::new(driver)
    )));
    routes.routes()
}

pub(super) struct DriverService<D> {
    driver: Arc<D>,
    /// Ids of the tasks this process started or recovered and has not
    /// destroyed. After an agent restart Nomad reattaches to the running
    /// plugin and calls `RecoverTask` for every task it had: for these it
    /// is answered at once, without the driver.
    tracked: Arc<std::sync::Mutex<HashSet<String>>>,
}

impl<D> DriverService<D> {
    pub(super) fn new(driver: Arc<D>) -> Self {
        DriverService {
            driver,
            tracked: Arc::default(),
        }
    }

    fn tracked(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.tracked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

fn missing(what: &str) -> Status {
    Status::invalid_argument(format!("request is missing {what}"))
}

#[tonic::async_trait]
impl<D: Driver> DriverRpc for DriverService<D> {
    async fn init(
        &self,
        _r: Request<pb::InitRequest>,
    ) -> Result<Response<pb::InitResponse>, Status> {
        self.driver.init().await?;
        Ok(Response::new(pb::InitResponse {}))
    }

    async fn task_config_schema(
        &self,
        _r: Request<pb::TaskConfigSchemaRequest>,
    ) -> Result<Response<pb::TaskConfigSchemaResponse>, Status> {
        Ok(Response::new(pb::TaskConfigSchemaResponse {
            spec: Some(<D::TaskConfig as ConfigSchema>::schema().to_proto()),
        }))
    }

    async fn capabilities(
        &self,
        _r: Request<pb::CapabilitiesRequest>,
    ) -> Result<Response<pb::CapabilitiesResponse>, Status> {
        use pb::driver_capabilities::{FsIsolation as F, MountConfigs};
        let c = self.driver.capabilities();
        Ok(Response::new(pb::CapabilitiesResponse {
            capabilities: Some(pb::DriverCapabilities {
                send_signals: c.send_signals,
                exec: c.exec,
                fs_isolation: match c.fs_isolation {
                    FsIsolation::None => F::None,
                    FsIsolation::Chroot => F::Chroot,
                    FsIsolation::Image => F::Image,
                    FsIsolation::Unveil => F::Unveil,
                } as i32,
                network_isolation_modes: c
                    .network_isolation_modes
                    .iter()
                    .map(|m| mode_to_proto(*m) as i32)
                    .collect(),
                must_create_network: c.must_create_network,
                mount_configs: if c.mounts {
                    MountConfigs::UnknownMounts as i32
                } else {
                    MountConfigs::NoMounts as i32
                },
                disable_log_collection: c.disable_log_collection,
                dynamic_workload_users: c.dynamic_workload_users,
            }),
        }))
    }

    type FingerprintStream = Stream_<pb::FingerprintResponse>;

    async fn fingerprint(
        &self,
        _r: Request<pb::FingerprintRequest>,
    ) -> Result<Response<Self::FingerprintStream>, Status> {
        let driver = self.driver.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                // A panic must not end the stream: Nomad would reopen it at
                // once, and the panic would repeat in a tight loop. Report
                // the driver unhealthy instead, and try again next time.
                let f = match AssertUnwindSafe(driver.fingerprint()).catch_unwind().await {
                    Ok(f) => f,
                    Err(_) => {
                        tracing::error!("the driver panicked while fingerprinting");
                        Fingerprint::unhealthy("the driver panicked while fingerprinting")
                    }
                };
                if tx.send(Ok(fingerprint_to_proto(&f))).await.is_err() {
                    return; // Nomad closed the stream.
                }
                let every = driver
                    .fingerprint_interval()
                    .max(Duration::from_millis(100));
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn recover_task(
        &self,
        request: Request<pb::RecoverTaskRequest>,
    ) -> Result<Response<pb::RecoverTaskResponse>, Status> {
        let req = request.into_inner();
        let handle = req.handle.ok_or_else(|| missing("the task handle"))?;
        let config = handle.config.unwrap_or_default();
        let id = if config.id.is_empty() {
            req.task_id.clone()
        } else {
            config.id.clone()
        };
        if id.is_empty() {
            return Err(missing("the task id"));
        }
        if self.tracked().contains(&id) {
            tracing::debug!(task_id = %id, "RecoverTask of a task this plugin tracks: nothing to do");
            return Ok(Response::new(pb::RecoverTaskResponse {}));
        }
        let state: D::State = serde_json::from_slice(&handle.driver_state).map_err(|e| {
            Status::invalid_argument(format!(
                "task {id:?}: the driver state in the handle does not decode (handle version {}): {e}",
                handle.version
            ))
        })?;
        // Absent after an agent restart (the client's state store does not
        // keep it), and it may no longer decode after a plugin upgrade:
        // neither may fail the recovery on its own, the state is what counts.
        let task_config = if config.msgpack_driver_config.is_empty() {
            None
        } else {
            match decode_task_config::<D::TaskConfig>(&config.msgpack_driver_config) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(task_id = %id, error = %e.message(), "RecoverTask: the task config in the handle does not decode; recovering from the driver state alone");
                    None
                }
            }
        };
        self.driver
            .recover_task(RecoveredTask {
                id: id.clone(),
                name: config.name.clone(),
                config: task_config,
                task: task_info(&config),
                state,
            })
            .await?;
        self.tracked().insert(id);
        Ok(Response::new(pb::RecoverTaskResponse {}))
    }

    async fn start_task(
        &self,
        request: Request<pb::StartTaskRequest>,
    ) -> Result<Response<pb::StartTaskResponse>, Status> {
        let config = request
            .into_inner()
            .task
            .ok_or_else(|| missing("the task config"))?;
        if config.id.is_empty() {
            return Err(missing("the task id"));
        }
        let decoded = decode_task_config::<D::TaskConfig>(&config.msgpack_driver_config)?;
        let task = Task {
            id: config.id.clone(),
            name: config.name.clone(),
            config: decoded,
            task: task_info(&config),
        };
        // A `Retryable` error becomes a recoverable one (see `crate::error`).
        let started = self.driver.start_task(task).await?;
        self.tracked().insert(config.id.clone());
        let driver_state = serde_json::to_vec(&started.state)
            .map_err(|e| Status::internal(format!("encoding the driver state: {e}")))?;
        Ok(Response::new(pb::StartTaskResponse {
            result: pb::start_task_response::Result::Success as i32,
            driver_error_msg: String::new(),
            // Always echo the whole task config: Nomad persists this handle
            // and needs `config.id` for destroy and recovery.
            handle: Some(pb::TaskHandle {
                version: HANDLE_VERSION,
                config: Some(config),
                state: pb::TaskState::Running as i32,
                driver_state,
            }),
            network_override: started.network.map(|n| pb::NetworkOverride {
                port_map: n.port_map.into_iter().collect(),
                addr: n.addr,
                auto_advertise: n.auto_advertise,
            }),
        }))
    }

    async fn wait_task(
        &self,
        request: Request<pb::WaitTaskRequest>,
    ) -> Result<Response<pb::WaitTaskResponse>, Status> {
        let id = request.into_inner().task_id;
        let exit = self.driver.wait_task(&id).await?;
        Ok(Response::new(pb::WaitTaskResponse {
            result: Some(exit.to_proto()),
            err: exit.err.unwrap_or_default(),
        }))
    }

    async fn stop_task(
        &self,
        request: Request<pb::StopTaskRequest>,
    ) -> Result<Response<pb::StopTaskResponse>, Status> {
        let req = request.into_inner();
        let timeout = duration(req.timeout.as_ref());
        self.driver
            .stop_task(&req.task_id, timeout, &req.signal)
            .await?;
        Ok(Response::new(pb::StopTaskResponse {}))
    }

    async fn destroy_task(
        &self,
        request: Request<pb::DestroyTaskRequest>,
    ) -> Result<Response<pb::DestroyTaskResponse>, Status> {
        let req = request.into_inner();
        self.driver.destroy_task(&req.task_id, req.force).await?;
        self.tracked().remove(&req.task_id);
        Ok(Response::new(pb::DestroyTaskResponse {}))
    }

    async fn inspect_task(
        &self,
        request: Request<pb::InspectTaskRequest>,
    ) -> Result<Response<pb::InspectTaskResponse>, Status> {
        let id = request.into_inner().task_id;
        let s = self.driver.inspect_task(&id).await?;
        let ts = |t: Option<SystemTime>| t.map(timestamp).unwrap_or_else(zero_time);
        Ok(Response::new(pb::InspectTaskResponse {
            task: Some(pb::TaskStatus {
                id: id.clone(),
                name: id.split('/').nth(1).unwrap_or("").to_string(),
                state: state_to_proto(s.state) as i32,
                started_at: Some(ts(s.started_at)),
                completed_at: Some(ts(s.completed_at)),
                result: Some(s.exit.map(|e| e.to_proto()).unwrap_or_default()),
            }),
            driver: Some(pb::TaskDriverStatus {
                attributes: s.attributes.into_iter().collect(),
            }),
            network_override: None,
        }))
    }

    type TaskStatsStream = Stream_<pb::TaskStatsResponse>;

    async fn task_stats(
        &self,
        request: Request<pb::TaskStatsRequest>,
    ) -> Result<Response<Self::TaskStatsStream>, Status> {
        let req = request.into_inner();
        let interval = duration(req.collection_interval.as_ref());
        let interval = if interval.is_zero() {
            Duration::from_secs(1)
        } else {
            interval
        };
        // Fail at once for an unknown task, rather than in the stream.
        let first = self.driver.task_stats(&req.task_id).await?;
        let driver = self.driver.clone();
        let id = req.task_id;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut next = Some(first);
            loop {
                let usage = match next.take() {
                    Some(u) => u,
                    None => match AssertUnwindSafe(driver.task_stats(&id))
                        .catch_unwind()
                        .await
                    {
                        Ok(Ok(u)) => u,
                        // Usually the task is gone. End the stream cleanly,
                        // as Go's server does when its stats channel
                        // closes: an error status would make Nomad's
                        // client log it at error each time its stats hook
                        // reopens the stream (which it does until the task
                        // exits, erroring or not).
                        Ok(Err(e)) => {
                            tracing::debug!(task_id = %id, error = %e, "task stats ended");
                            return;
                        }
                        Err(_) => {
                            tracing::error!(task_id = %id, "the driver panicked while collecting task stats; ending the stream");
                            return;
                        }
                    },
                };
                let msg = pb::TaskStatsResponse {
                    stats: Some(pb::TaskStats {
                        id: id.clone(),
                        timestamp: Some(timestamp(SystemTime::now())),
                        // Never missing: a nil aggregate crashes the client.
                        agg_resource_usage: Some(usage_to_proto(&usage.cpu, &usage.memory)),
                        resource_usage_by_pid: usage
                            .by_pid
                            .iter()
                            .map(|(pid, (c, m))| (pid.clone(), usage_to_proto(c, m)))
                            .collect(),
                    }),
                };
                if tx.send(Ok(msg)).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type TaskEventsStream = Stream_<pb::DriverTaskEvent>;

    async fn task_events(
        &self,
        _r: Request<pb::TaskEventsRequest>,
    ) -> Result<Response<Self::TaskEventsStream>, Status> {
        let sub = self.driver.events().map(EventBus::subscribe);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let Some(mut sub) = sub else {
                // No events ever, but the stream stays open until Nomad
                // closes it: an ended stream makes Nomad reopen it at once.
                tx.closed().await;
                return;
            };
            loop {
                tokio::select! {
                    ev = sub.recv() => match ev {
                        Ok(e) => {
                            let msg = pb::DriverTaskEvent {
                                task_id: e.task_id,
                                alloc_id: e.alloc_id,
                                task_name: e.task_name,
                                timestamp: Some(timestamp(e.timestamp)),
                                message: e.message,
                                annotations: e.annotations.into_iter().collect(),
                            };
                            if tx.send(Ok(msg)).await.is_err() {
                                return;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(dropped = n, "task events were dropped: Nomad read them too slowly");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            tx.closed().await;
                            return;
                        }
                    },
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn shutdown(
        &self,
        _r: Request<pb::ShutdownRequest>,
    ) -> Result<Response<pb::ShutdownResponse>, Status> {
        self.driver.shutdown().await?;
        Ok(Response::new(pb::ShutdownResponse {}))
    }

    async fn signal_task(
        &self,
        request: Request<pb::SignalTaskRequest>,
    ) -> Result<Response<pb::SignalTaskResponse>, Status> {
        let req = request.into_inner();
        self.driver.signal_task(&req.task_id, &req.signal).await?;
        Ok(Response::new(pb::SignalTaskResponse {}))
    }

    async fn exec_task(
        &self,
        request: Request<pb::ExecTaskRequest>,
    ) -> Result<Response<pb::ExecTaskResponse>, Status> {
        let req = request.into_inner();
        if req.command.is_empty() {
            return Err(missing("the command"));
        }
        let out = self
            .driver
            .exec_task(&req.task_id, req.command, duration(req.timeout.as_ref()))
            .await?;
        Ok(Response::new(pb::ExecTaskResponse {
            stdout: out.stdout,
            stderr: out.stderr,
            // Never missing: a nil result crashes the client.
            result: Some(out.exit.to_proto()),
        }))
    }

    type ExecTaskStreamingStream = Stream_<pb::ExecTaskStreamingResponse>;

    async fn exec_task_streaming(
        &self,
        request: Request<Streaming<pb::ExecTaskStreamingRequest>>,
    ) -> Result<Response<Self::ExecTaskStreamingStream>, Status> {
        let mut incoming = request.into_inner();
        let first = incoming.message().await?.ok_or_else(|| {
            Status::invalid_argument("the exec stream ended before its setup message")
        })?;
        let setup = first
            .setup
            .ok_or_else(|| Status::invalid_argument("first message should always be setup"))?;
        if setup.command.is_empty() {
            return Err(missing("the command"));
        }
        let (in_tx, in_rx) = mpsc::channel(64);
        // Forward what the user sends; heartbeats (empty messages) are
        // ignored. Ends when the user disconnects.
        tokio::spawn(async move {
            while let Ok(Some(msg)) = incoming.message().await {
                let mut inputs = Vec::new();
                if let Some(size) = msg.tty_size {
                    inputs.push(ExecInput::Resize {
                        height: u16::try_from(size.height.max(0)).unwrap_or(u16::MAX),
                        width: u16::try_from(size.width.max(0)).unwrap_or(u16::MAX),
                    });
                }
                if let Some(op) = msg.stdin {
                    if !op.data.is_empty() {
                        inputs.push(ExecInput::Stdin(op.data));
                    }
                    if op.close {
                        inputs.push(ExecInput::StdinClosed);
                    }
                }
                for i in inputs {
                    if in_tx.send(i).await.is_err() {
                        return;
                    }
                }
            }
        });
        let (out_tx, out_rx) = mpsc::channel(64);
        let session = ExecSession {
            task_id: setup.task_id,
            command: setup.command,
            tty: setup.tty,
            input: in_rx,
            output: ExecOutputSink::new(out_tx.clone()),
        };
        let driver = self.driver.clone();
        tokio::spawn(async move {
            match driver.exec_task_streaming(session).await {
                Ok(exit) => {
                    let close = Some(pb::ExecTaskStreamingIoOperation {
                        data: Vec::new(),
                        close: true,
                    });
                    let msgs = [
                        pb::ExecTaskStreamingResponse {
                            stdout: close.clone(),
                            ..Default::default()
                        },
                        pb::ExecTaskStreamingResponse {
                            stderr: close,
                            ..Default::default()
                        },
                        pb::ExecTaskStreamingResponse {
                            exited: true,
                            result: Some(exit.to_proto()),
                            ..Default::default()
                        },
                    ];
                    for m in msgs {
                        if out_tx.send(Ok(m)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = out_tx.send(Err(Status::from(e))).await;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }

    async fn create_network(
        &self,
        request: Request<pb::CreateNetworkRequest>,
    ) -> Result<Response<pb::CreateNetworkResponse>, Status> {
        let req = request.into_inner();
        let (spec, created) = self
            .driver
            .create_network(&req.alloc_id, &req.hostname)
            .await?;
        Ok(Response::new(pb::CreateNetworkResponse {
            isolation_spec: Some(network_to_proto(&spec)),
            created,
        }))
    }

    async fn destroy_network(
        &self,
        request: Request<pb::DestroyNetworkRequest>,
    ) -> Result<Response<pb::DestroyNetworkResponse>, Status> {
        let req = request.into_inner();
        let spec = req
            .isolation_spec
            .as_ref()
            .map(network_from_proto)
            .ok_or_else(|| missing("the isolation spec"))?;
        self.driver.destroy_network(&req.alloc_id, spec).await?;
        Ok(Response::new(pb::DestroyNetworkResponse {}))
    }
}

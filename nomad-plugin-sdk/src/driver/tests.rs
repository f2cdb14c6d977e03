//! How the Driver service's streams end, against a fake driver on paused
//! tokio time (intervals elapse instantly and deterministically).

use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use nomad_plugin_proto::nomad::drivers as pb;
use nomad_plugin_proto::nomad::drivers::driver_server::Driver as _;
use tonic::Request;

use super::service::DriverService;
use super::*;
use crate::base::PluginInfo;

/// A task config with no attributes (the derive cannot be used inside the
/// SDK itself).
#[derive(serde::Deserialize)]
struct NoConfig {}

impl crate::config::schema::ConfigSchema for NoConfig {
    fn schema() -> crate::config::schema::Spec {
        crate::config::schema::Spec::Object(Default::default())
    }
}

/// Stats succeed `stats_ok` times, then fail (or panic); the first
/// fingerprint panics when `fingerprint_panics` is set.
#[derive(Default)]
struct Fake {
    stats_ok: usize,
    stats_panic: bool,
    stats_calls: AtomicUsize,
    fingerprint_panics: bool,
    fingerprints: AtomicUsize,
    /// Whether each `recover_task` call had a decoded config.
    recovered: std::sync::Mutex<Vec<bool>>,
}

#[crate::async_trait]
impl BasePlugin for Fake {
    type Config = ();
    fn info(&self) -> PluginInfo {
        PluginInfo::new("fake", "0.1.0")
    }
}

#[crate::async_trait]
impl Driver for Fake {
    type TaskConfig = NoConfig;
    type State = ();

    async fn fingerprint(&self) -> Fingerprint {
        let n = self.fingerprints.fetch_add(1, Ordering::SeqCst);
        if self.fingerprint_panics && n == 0 {
            panic!("fingerprint bug");
        }
        Fingerprint::healthy()
    }

    fn fingerprint_interval(&self) -> Duration {
        Duration::from_secs(30)
    }

    async fn start_task(&self, _task: Task<NoConfig>) -> Result<StartedTask<()>, PluginError> {
        Err(PluginError::Internal("unused".into()))
    }

    async fn recover_task(&self, task: RecoveredTask<NoConfig, ()>) -> Result<(), PluginError> {
        self.recovered.lock().unwrap().push(task.config.is_some());
        Ok(())
    }

    async fn wait_task(&self, _id: &str) -> Result<ExitResult, PluginError> {
        Ok(ExitResult::code(0))
    }

    async fn stop_task(&self, _id: &str, _t: Duration, _s: &str) -> Result<(), PluginError> {
        Ok(())
    }

    async fn destroy_task(&self, _id: &str, _force: bool) -> Result<(), PluginError> {
        Ok(())
    }

    async fn inspect_task(&self, _id: &str) -> Result<TaskStatus, PluginError> {
        Err(PluginError::NotFound("unused".into()))
    }

    async fn task_stats(&self, id: &str) -> Result<TaskResourceUsage, PluginError> {
        let n = self.stats_calls.fetch_add(1, Ordering::SeqCst);
        if n < self.stats_ok {
            return Ok(TaskResourceUsage::default());
        }
        if self.stats_panic {
            panic!("stats bug");
        }
        Err(not_found(id))
    }
}

fn stats_request() -> Request<pb::TaskStatsRequest> {
    Request::new(pb::TaskStatsRequest {
        task_id: "a/b/c".into(),
        collection_interval: Some(prost_types::Duration {
            seconds: 1,
            nanos: 0,
        }),
    })
}

#[tokio::test(start_paused = true)]
async fn task_stats_failing_mid_stream_ends_the_stream_cleanly() {
    for stats_panic in [false, true] {
        let svc = DriverService::new(Arc::new(Fake {
            stats_ok: 2,
            stats_panic,
            ..Fake::default()
        }));
        let mut stream = svc
            .task_stats(stats_request())
            .await
            .expect("the stream opens")
            .into_inner();
        for i in 0..2 {
            let msg = stream
                .next()
                .await
                .unwrap_or_else(|| panic!("message {i}"))
                .unwrap_or_else(|s| panic!("message {i} is a status: {s:?}"));
            assert!(msg.stats.and_then(|s| s.agg_resource_usage).is_some());
        }
        // Ends with no status item: tonic then sends OK trailers, which
        // grpc-go's client reads as io.EOF, which Nomad does not log.
        match stream.next().await {
            None => {}
            Some(item) => {
                panic!("stream went on after the driver failed (panic: {stats_panic}): {item:?}")
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn task_stats_of_an_unknown_task_fail_at_once() {
    let svc = DriverService::new(Arc::new(Fake::default()));
    let status = match svc.task_stats(stats_request()).await {
        Ok(_) => panic!("stats of an unknown task opened a stream"),
        Err(s) => s,
    };
    assert_eq!(status.code(), tonic::Code::NotFound);
}

#[tokio::test(start_paused = true)]
async fn a_fingerprint_panic_reports_unhealthy_and_keeps_the_stream_open() {
    let svc = DriverService::new(Arc::new(Fake {
        fingerprint_panics: true,
        ..Fake::default()
    }));
    let mut stream = svc
        .fingerprint(Request::new(pb::FingerprintRequest {}))
        .await
        .expect("the stream opens")
        .into_inner();
    let first = stream
        .next()
        .await
        .expect("a first fingerprint")
        .expect("not a status");
    assert_eq!(
        first.health,
        pb::fingerprint_response::HealthState::Unhealthy as i32
    );
    assert!(
        first.health_description.contains("panicked"),
        "{}",
        first.health_description
    );
    // The next interval (30 s, elapsed instantly on paused time) is healthy.
    let second = stream
        .next()
        .await
        .expect("a second fingerprint")
        .expect("not a status");
    assert_eq!(
        second.health,
        pb::fingerprint_response::HealthState::Healthy as i32
    );
}

fn recover_request(id: &str, msgpack_config: Vec<u8>) -> Request<pb::RecoverTaskRequest> {
    Request::new(pb::RecoverTaskRequest {
        task_id: String::new(),
        handle: Some(pb::TaskHandle {
            version: 1,
            config: Some(pb::TaskConfig {
                id: id.into(),
                name: "web".into(),
                msgpack_driver_config: msgpack_config,
                ..Default::default()
            }),
            state: pb::TaskState::Running as i32,
            driver_state: b"null".to_vec(),
        }),
    })
}

#[tokio::test]
async fn recover_task_of_a_tracked_task_is_answered_without_the_driver() {
    let fake = Arc::new(Fake::default());
    let svc = DriverService::new(fake.clone());
    for _ in 0..3 {
        svc.recover_task(recover_request("a/web/1", vec![0x80]))
            .await
            .expect("recovered");
    }
    assert_eq!(
        *fake.recovered.lock().unwrap(),
        vec![true],
        "one real recovery"
    );
    // Once destroyed, the task is no longer tracked.
    svc.destroy_task(Request::new(pb::DestroyTaskRequest {
        task_id: "a/web/1".into(),
        force: true,
    }))
    .await
    .expect("destroyed");
    svc.recover_task(recover_request("a/web/1", vec![0x80]))
        .await
        .expect("recovered again");
    assert_eq!(*fake.recovered.lock().unwrap(), vec![true, true]);
}

#[tokio::test]
async fn a_task_config_that_is_absent_or_does_not_decode_never_fails_recovery() {
    let fake = Arc::new(Fake::default());
    let svc = DriverService::new(fake.clone());
    // 0xc1 is never used in msgpack; an empty config is what Nomad sends
    // after an agent restart.
    for (id, config) in [("a/web/1", vec![0xc1]), ("a/web/2", Vec::new())] {
        svc.recover_task(recover_request(id, config))
            .await
            .unwrap_or_else(|s| panic!("{id}: recovery failed: {s:?}"));
    }
    assert_eq!(*fake.recovered.lock().unwrap(), vec![false, false]);
    // The driver state still has to decode: it is all recovery has.
    let mut bad_state = recover_request("a/web/3", Vec::new()).into_inner();
    if let Some(h) = bad_state.handle.as_mut() {
        h.driver_state = b"{not json".to_vec();
    }
    let err = svc
        .recover_task(Request::new(bad_state))
        .await
        .expect_err("an undecodable driver state fails");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

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

    async fn recover_task(&self, _task: RecoveredTask<NoConfig, ()>) -> Result<(), PluginError> {
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

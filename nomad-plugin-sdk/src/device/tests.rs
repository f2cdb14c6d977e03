//! The DevicePlugin service against a fake device, on paused tokio time:
//! periods and intervals elapse instantly and deterministically.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use futures::StreamExt;
use nomad_plugin_proto::nomad::device as pb;
use nomad_plugin_proto::nomad::device::device_plugin_server::DevicePlugin as _;
use tokio::sync::Notify;
use tonic::{Code, Request};

use super::service::DeviceService;
use super::*;
use crate::base::PluginInfo;

struct Fake {
    groups: Mutex<Result<Vec<DeviceGroup>, PluginError>>,
    panic_next: Mutex<bool>,
    stats_fail: Mutex<bool>,
    notify: Notify,
    fingerprints: AtomicUsize,
    reserved: Mutex<Vec<Vec<String>>>,
}

impl Fake {
    fn new(groups: Vec<DeviceGroup>) -> Arc<Self> {
        Arc::new(Fake {
            groups: Mutex::new(Ok(groups)),
            panic_next: Mutex::new(false),
            stats_fail: Mutex::new(false),
            notify: Notify::new(),
            fingerprints: AtomicUsize::new(0),
            reserved: Mutex::new(Vec::new()),
        })
    }

    fn set(&self, groups: Result<Vec<DeviceGroup>, PluginError>) {
        *self.groups.lock().unwrap() = groups;
        self.notify.notify_one();
    }
}

fn group(ids: &[&str]) -> DeviceGroup {
    ids.iter().fold(
        DeviceGroup::new("acme", "fpga", "X100").attribute("memory", Attribute::mib(1024)),
        |g, id| g.device(DeviceInstance::new(*id)),
    )
}

#[async_trait::async_trait]
impl BasePlugin for Fake {
    type Config = ();
    fn info(&self) -> PluginInfo {
        PluginInfo::new("fake", "0.1.0")
    }
}

#[async_trait::async_trait]
impl Device for Fake {
    async fn fingerprint(&self) -> Result<Vec<DeviceGroup>, PluginError> {
        self.fingerprints.fetch_add(1, Ordering::SeqCst);
        if std::mem::take(&mut *self.panic_next.lock().unwrap()) {
            panic!("boom");
        }
        self.groups.lock().unwrap().clone()
    }

    async fn changed(&self) {
        self.notify.notified().await
    }

    async fn reserve(&self, ids: &[String]) -> Result<ContainerReservation, PluginError> {
        self.reserved.lock().unwrap().push(ids.to_vec());
        Ok(ContainerReservation::new().env("ACME_CARDS", ids.join(",")))
    }

    async fn stats(&self) -> Result<Vec<DeviceGroupStats>, PluginError> {
        if *self.stats_fail.lock().unwrap() {
            return Err(PluginError::Internal("sensor offline".into()));
        }
        let g = group(&["a"]);
        Ok(vec![
            DeviceGroupStats::of(&g).instance("a", DeviceStats::new(StatValue::int(1)))
        ])
    }
}

fn ids(msg: &pb::FingerprintResponse) -> Vec<(String, bool)> {
    msg.device_group
        .iter()
        .flat_map(|g| g.devices.iter().map(|d| (d.id.clone(), d.healthy)))
        .collect()
}

type FpStream = <DeviceService<Fake> as nomad_plugin_proto::nomad::device::device_plugin_server::DevicePlugin>::FingerprintStream;

async fn next(stream: &mut FpStream) -> pb::FingerprintResponse {
    tokio::time::timeout(Duration::from_secs(600), stream.next())
        .await
        .expect("a fingerprint within ten (paused) minutes")
        .expect("the stream stays open")
        .expect("no stream error")
}

async fn open(svc: &DeviceService<Fake>) -> FpStream {
    svc.fingerprint(Request::new(pb::FingerprintRequest {}))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(start_paused = true)]
async fn fingerprints_at_once_then_only_changes() {
    let fake = Fake::new(vec![group(&["a", "b"])]);
    let svc = DeviceService::new(fake.clone());
    let mut stream = open(&svc).await;
    let first = next(&mut stream).await;
    assert_eq!(ids(&first), vec![("a".into(), true), ("b".into(), true)]);
    assert_eq!(first.device_group[0].attributes["memory"].unit, "MiB");

    // Five periods without change: the plugin is asked, Nomad is not told.
    let quiet = tokio::time::timeout(
        DEFAULT_FINGERPRINT_PERIOD * 5 + Duration::from_secs(1),
        stream.next(),
    )
    .await;
    assert!(
        quiet.is_err(),
        "an unchanged fingerprint was re-sent: {quiet:?}"
    );
    assert!(fake.fingerprints.load(Ordering::SeqCst) >= 6);

    // A change reported through `changed` is sent before the period ends.
    let before = tokio::time::Instant::now();
    fake.set(Ok(vec![group(&["a", "c"])]));
    let second = next(&mut stream).await;
    assert!(before.elapsed() < DEFAULT_FINGERPRINT_PERIOD);
    assert_eq!(ids(&second), vec![("a".into(), true), ("c".into(), true)]);
}

#[tokio::test(start_paused = true)]
async fn errors_and_panics_never_end_the_stream() {
    let fake = Fake::new(vec![]);
    fake.set(Err(PluginError::Internal("driver not loaded".into())));
    let svc = DeviceService::new(fake.clone());
    let mut stream = open(&svc).await;
    // Before any success: an empty fingerprint, so the node registers.
    assert!(next(&mut stream).await.device_group.is_empty());

    fake.set(Ok(vec![group(&["a"])]));
    assert_eq!(ids(&next(&mut stream).await), vec![("a".into(), true)]);

    // After one: the known devices turn unhealthy, with the reason.
    fake.set(Err(PluginError::Internal("bus error".into())));
    let degraded = next(&mut stream).await;
    let dev = &degraded.device_group[0].devices[0];
    assert!(!dev.healthy);
    assert_eq!(dev.health_description, "fingerprinting failed: bus error");

    // Recovered, retried within seconds rather than a whole period.
    let before = tokio::time::Instant::now();
    *fake.groups.lock().unwrap() = Ok(vec![group(&["a"])]);
    assert_eq!(ids(&next(&mut stream).await), vec![("a".into(), true)]);
    assert!(
        before.elapsed() <= Duration::from_secs(2),
        "{:?}",
        before.elapsed()
    );

    // A panic is an error too; an invalid snapshot as well.
    *fake.panic_next.lock().unwrap() = true;
    fake.notify.notify_one();
    let after_panic = next(&mut stream).await;
    assert!(after_panic.device_group[0].devices[0]
        .health_description
        .contains("panicked"));
    fake.set(Ok(vec![group(&["a", "a"])]));
    let invalid = next(&mut stream).await;
    assert!(invalid.device_group[0].devices[0]
        .health_description
        .contains("duplicate device ID"));
}

#[tokio::test(start_paused = true)]
async fn reserve_checks_ids_and_never_returns_nil() {
    let fake = Fake::new(vec![group(&["a", "b"])]);
    let svc = DeviceService::new(fake.clone());
    let reserve = |ids: &[&str]| {
        svc.reserve(Request::new(pb::ReserveRequest {
            device_ids: ids.iter().map(|s| s.to_string()).collect(),
        }))
    };
    // Before any fingerprint stream the SDK fingerprints once itself.
    let ok = reserve(&["b"]).await.unwrap().into_inner();
    assert_eq!(ok.container_res.unwrap().envs["ACME_CARDS"], "b");
    assert_eq!(fake.fingerprints.load(Ordering::SeqCst), 1);

    let empty = reserve(&[]).await.unwrap().into_inner();
    assert_eq!(
        empty.container_res,
        Some(pb::ContainerReservation::default())
    );

    let err = reserve(&["a", "zz", "yy"]).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "unknown device IDs: zz,yy");
    assert_eq!(
        fake.reserved.lock().unwrap().len(),
        1,
        "unknown ids reached the plugin"
    );

    // The fingerprint stream's latest snapshot is what counts.
    let mut stream = open(&svc).await;
    next(&mut stream).await;
    fake.set(Ok(vec![group(&["c"])]));
    next(&mut stream).await;
    assert_eq!(reserve(&["a"]).await.unwrap_err().code(), Code::NotFound);
    assert!(reserve(&["c"]).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn stats_follow_the_interval_and_survive_errors() {
    let fake = Fake::new(vec![group(&["a"])]);
    let svc = DeviceService::new(fake.clone());
    let open_stats = |d: Option<prost_types::Duration>| {
        svc.stats(Request::new(pb::StatsRequest {
            collection_interval: d,
        }))
    };
    let mut s = open_stats(Some(prost_types::Duration {
        seconds: 5,
        nanos: 0,
    }))
    .await
    .unwrap()
    .into_inner();
    let start = tokio::time::Instant::now();
    let first = s.next().await.unwrap().unwrap();
    assert!(start.elapsed() < Duration::from_millis(1));
    let inst = &first.groups[0].instance_stats["a"];
    assert!(
        inst.timestamp.is_some(),
        "Nomad drops stats without a timestamp"
    );
    s.next().await.unwrap().unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));

    // A failing round is skipped; the stream goes on.
    *fake.stats_fail.lock().unwrap() = true;
    let skipped = tokio::time::timeout(Duration::from_secs(12), s.next()).await;
    assert!(skipped.is_err());
    *fake.stats_fail.lock().unwrap() = false;
    assert!(s.next().await.unwrap().is_ok());

    // Zero means one second; negative is refused.
    let mut z = open_stats(Some(prost_types::Duration::default()))
        .await
        .unwrap()
        .into_inner();
    z.next().await.unwrap().unwrap();
    let t = tokio::time::Instant::now();
    z.next().await.unwrap().unwrap();
    assert_eq!(t.elapsed(), Duration::from_secs(1));
    let neg = open_stats(Some(prost_types::Duration {
        seconds: -1,
        nanos: 0,
    }))
    .await;
    assert_eq!(neg.err().map(|e| e.code()), Some(Code::InvalidArgument));
}

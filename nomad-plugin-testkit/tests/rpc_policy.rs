//! The RPC policy the SDK applies to every gRPC plugin kind: a plugin that
//! panics in one RPC gets that RPC answered `INTERNAL`, the panic logged at
//! error, and keeps serving the next call. One test per kind (the base
//! service, driver, device, autoscaler, CSI), each serving a small plugin
//! in-process on a Unix socket in a temporary directory and stopping it the
//! way its host does (go-plugin's `Shutdown`, or the CSI shutdown signal).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nomad_plugin_proto::go_plugin::grpc_controller_client::GrpcControllerClient;
use nomad_plugin_proto::go_plugin::Empty;
use nomad_plugin_sdk::runtime::{self, Handshake, HandshakeLine, PluginEnv, ServeConfig};
use nomad_plugin_sdk::PluginError;
use nomad_plugin_testkit::launch::{connect, Endpoint};
use tonic::transport::Channel;
use tonic::Code;
use tracing_subscriber::layer::SubscriberExt;

/// Generous: the machine running the tests may be loaded.
const DEADLINE: Duration = Duration::from_secs(60);

// ---- log capture ----------------------------------------------------------

/// Every event logged at error in this test binary, as `message field=value`.
fn errors() -> &'static Mutex<Vec<String>> {
    static ERRORS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    ERRORS.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(ErrorCapture),
        );
        Mutex::new(Vec::new())
    })
}

struct ErrorCapture;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ErrorCapture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() != tracing::Level::ERROR {
            return;
        }
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={:?}", field.name(), value));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        errors()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fields.0);
    }
}

/// Asserts that an error-level event mentioning `needle` was logged.
fn assert_logged_at_error(needle: &str) {
    let errors = errors().lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        errors.iter().any(|e| e.contains(needle)),
        "no error-level log line mentions {needle:?}; error lines: {errors:#?}"
    );
}

fn assert_internal<T: std::fmt::Debug>(result: Result<T, tonic::Status>, panic_text: &str) {
    let status = result.expect_err("a panicking RPC must fail");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains(panic_text), "{status:?}");
    assert_logged_at_error(panic_text);
}

// ---- serving a go-plugin kind in-process -----------------------------------

/// A go-plugin plugin served in-process until [`Served::stop`].
struct Served {
    channel: Channel,
    server: tokio::task::JoinHandle<Result<(), runtime::ServeError>>,
    _dir: tempfile::TempDir,
}

async fn serve(handshake: Handshake, routes: tonic::service::Routes) -> Served {
    errors(); // install the capture before anything logs
    let dir = tempfile::tempdir().expect("temporary directory");
    let env = PluginEnv::from_vars(
        &handshake,
        [
            (
                handshake.magic_cookie_key.to_string(),
                handshake.magic_cookie_value.to_string(),
            ),
            (
                "PLUGIN_PROTOCOL_VERSIONS".to_string(),
                handshake.protocol_version.to_string(),
            ),
            (
                "PLUGIN_UNIX_SOCKET_DIR".to_string(),
                dir.path().display().to_string(),
            ),
        ],
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    let sink = move |line: &HandshakeLine| {
        if let Some(tx) = tx.take() {
            let _ = tx.send(line.address.clone());
        }
        Ok(())
    };
    let server = tokio::spawn(runtime::serve(
        ServeConfig::embedded(handshake, env),
        routes,
        sink,
    ));
    let address = tokio::time::timeout(DEADLINE, rx)
        .await
        .expect("handshake in time")
        .expect("the plugin announced its address");
    let channel = connect(&Endpoint::Unix(PathBuf::from(address)))
        .await
        .expect("connect to the plugin");
    Served {
        channel,
        server,
        _dir: dir,
    }
}

impl Served {
    /// Stops the plugin as go-plugin's client does and waits for it.
    async fn stop(self) {
        GrpcControllerClient::new(self.channel.clone())
            .shutdown(Empty {})
            .await
            .expect("Shutdown");
        tokio::time::timeout(DEADLINE, self.server)
            .await
            .expect("the plugin stops in time")
            .expect("the server task")
            .expect("a clean stop");
    }
}

// ---- driver and base --------------------------------------------------------

mod driver_plugin {
    use super::*;
    use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
    use nomad_plugin_sdk::driver::*;

    #[derive(serde::Deserialize, nomad_plugin_sdk::ConfigSchema)]
    pub struct Config {
        /// Panics in SetConfig when true.
        pub panic: bool,
    }

    pub struct Panicky;

    #[nomad_plugin_sdk::async_trait]
    impl BasePlugin for Panicky {
        type Config = Config;
        fn info(&self) -> PluginInfo {
            PluginInfo::new("panicky", "0.1.0")
        }
        async fn set_config(&self, config: Config, _: AgentConfig) -> Result<(), PluginError> {
            if config.panic {
                panic!("base-policy-panic in SetConfig");
            }
            Ok(())
        }
    }

    #[nomad_plugin_sdk::async_trait]
    impl Driver for Panicky {
        type TaskConfig = Config;
        type State = ();
        async fn fingerprint(&self) -> Fingerprint {
            Fingerprint::healthy()
        }
        async fn start_task(&self, _: Task<Config>) -> Result<StartedTask<()>, PluginError> {
            Err(PluginError::Unimplemented("no tasks".into()))
        }
        async fn recover_task(&self, _: RecoveredTask<Config, ()>) -> Result<(), PluginError> {
            Ok(())
        }
        async fn wait_task(&self, id: &str) -> Result<ExitResult, PluginError> {
            Err(not_found(id))
        }
        async fn stop_task(&self, id: &str, _: Duration, _: &str) -> Result<(), PluginError> {
            Err(not_found(id))
        }
        async fn destroy_task(&self, _: &str, _: bool) -> Result<(), PluginError> {
            Ok(())
        }
        async fn inspect_task(&self, id: &str) -> Result<TaskStatus, PluginError> {
            if id == "panic" {
                panic!("driver-policy-panic in InspectTask");
            }
            Err(not_found(id))
        }
        async fn task_stats(&self, id: &str) -> Result<TaskResourceUsage, PluginError> {
            Err(not_found(id))
        }
    }
}

fn msgpack_panic_flag(panic: bool) -> Vec<u8> {
    // go-cty msgpack of an object {panic = <bool>}: a one-entry map.
    let mut out = vec![0x81, 0xa5];
    out.extend_from_slice(b"panic");
    out.push(if panic { 0xc3 } else { 0xc2 });
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_service_panic_answers_internal_and_keeps_serving() {
    use nomad_plugin_proto::nomad::base as pb;
    let served = serve(
        Handshake::NOMAD,
        nomad_plugin_sdk::driver::routes(Arc::new(driver_plugin::Panicky)),
    )
    .await;
    let mut base = pb::base_plugin_client::BasePluginClient::new(served.channel.clone());
    let set = |panic| pb::SetConfigRequest {
        msgpack_config: msgpack_panic_flag(panic),
        plugin_api_version: "v0.1.0".into(),
        ..Default::default()
    };
    assert_internal(
        base.set_config(set(true)).await,
        "base-policy-panic in SetConfig",
    );
    base.set_config(set(false))
        .await
        .expect("SetConfig after the panic");
    let info = base
        .plugin_info(pb::PluginInfoRequest {})
        .await
        .expect("PluginInfo after the panic")
        .into_inner();
    assert_eq!(info.r#type, pb::PluginType::Driver as i32);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn driver_panic_answers_internal_and_keeps_serving() {
    use nomad_plugin_proto::nomad::drivers as pb;
    let served = serve(
        Handshake::NOMAD,
        nomad_plugin_sdk::driver::routes(Arc::new(driver_plugin::Panicky)),
    )
    .await;
    let mut driver = pb::driver_client::DriverClient::new(served.channel.clone());
    let inspect = |id: &str| pb::InspectTaskRequest { task_id: id.into() };
    assert_internal(
        driver.inspect_task(inspect("panic")).await,
        "driver-policy-panic in InspectTask",
    );
    let next = driver.inspect_task(inspect("other")).await;
    assert_eq!(next.expect_err("unknown task").code(), Code::NotFound);
    served.stop().await;
}

// ---- device -----------------------------------------------------------------

mod device_plugin {
    use super::*;
    use nomad_plugin_sdk::base::{BasePlugin, PluginInfo};
    use nomad_plugin_sdk::device::*;

    pub struct Panicky;

    #[nomad_plugin_sdk::async_trait]
    impl BasePlugin for Panicky {
        type Config = ();
        fn info(&self) -> PluginInfo {
            PluginInfo::new("panicky-device", "0.1.0")
        }
    }

    #[nomad_plugin_sdk::async_trait]
    impl Device for Panicky {
        async fn fingerprint(&self) -> Result<Vec<DeviceGroup>, PluginError> {
            Ok(vec![DeviceGroup::new("acme", "card", "c1")
                .device(DeviceInstance::new("boom"))
                .device(DeviceInstance::new("fine"))])
        }
        async fn reserve(&self, ids: &[String]) -> Result<ContainerReservation, PluginError> {
            if ids.iter().any(|id| id == "boom") {
                panic!("device-policy-panic in Reserve");
            }
            Ok(ContainerReservation::new().env("CARDS", ids.join(",")))
        }
        async fn stats(&self) -> Result<Vec<DeviceGroupStats>, PluginError> {
            Ok(Vec::new())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_panic_answers_internal_and_keeps_serving() {
    use nomad_plugin_proto::nomad::device as pb;
    let served = serve(
        Handshake::NOMAD,
        nomad_plugin_sdk::device::routes(Arc::new(device_plugin::Panicky)),
    )
    .await;
    let mut device = pb::device_plugin_client::DevicePluginClient::new(served.channel.clone());
    // Reserve only accepts fingerprinted ids: read the first fingerprint.
    let mut fingerprints = device
        .fingerprint(pb::FingerprintRequest {})
        .await
        .expect("Fingerprint")
        .into_inner();
    tokio::time::timeout(DEADLINE, fingerprints.message())
        .await
        .expect("a fingerprint in time")
        .expect("fingerprint stream")
        .expect("one fingerprint");
    let reserve = |id: &str| pb::ReserveRequest {
        device_ids: vec![id.into()],
    };
    assert_internal(
        device.reserve(reserve("boom")).await,
        "device-policy-panic in Reserve",
    );
    let next = device
        .reserve(reserve("fine"))
        .await
        .expect("Reserve after the panic")
        .into_inner();
    assert_eq!(
        next.container_res.expect("a reservation").envs["CARDS"],
        "fine"
    );
    drop(fingerprints);
    served.stop().await;
}

// ---- autoscaler ---------------------------------------------------------------

mod apm_plugin {
    use nomad_plugin_sdk::autoscaler::prelude::*;

    pub struct Panicky;

    #[async_trait]
    impl Base for Panicky {}

    #[async_trait]
    impl Apm for Panicky {
        async fn query(
            &self,
            query: &str,
            range: TimeRange,
        ) -> Result<Vec<TimestampedMetric>, AutoscalerError> {
            if query == "panic" {
                panic!("autoscaler-policy-panic in Query");
            }
            Ok(vec![TimestampedMetric::new(range.to, 1.0)])
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscaler_panic_answers_internal_and_keeps_serving() {
    use nomad_plugin_proto::autoscaler::apm as pb;
    let served = serve(
        Handshake::AUTOSCALER,
        nomad_plugin_sdk::autoscaler::apm::routes(Arc::new(apm_plugin::Panicky)),
    )
    .await;
    let mut apm =
        pb::apm_plugin_service_client::ApmPluginServiceClient::new(served.channel.clone());
    let now = prost_types::Timestamp::from(std::time::SystemTime::now());
    let query = |q: &str| pb::QueryRequest {
        query: q.into(),
        time_range: Some(nomad_plugin_proto::autoscaler::shared::TimeRange {
            from: Some(now),
            to: Some(now),
        }),
    };
    assert_internal(
        apm.query(query("panic")).await,
        "autoscaler-policy-panic in Query",
    );
    apm.query(query("1")).await.expect("Query after the panic");
    served.stop().await;
}

// ---- CSI ------------------------------------------------------------------------

mod csi_plugin {
    use super::*;
    use nomad_plugin_sdk::csi::*;

    /// Panics in the first `Probe`, answers the next ones.
    pub struct Panicky {
        pub panicked: AtomicBool,
    }

    #[async_trait]
    impl Identity for Panicky {
        async fn get_plugin_info(&self) -> CsiResult<PluginInfo> {
            Ok(PluginInfo::new("panicky.csi.example.com", "0.1.0"))
        }
        async fn probe(&self) -> CsiResult<bool> {
            if !self.panicked.swap(true, Ordering::SeqCst) {
                panic!("csi-policy-panic in Probe");
            }
            Ok(true)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csi_panic_answers_internal_and_keeps_serving() {
    use nomad_plugin_proto::csi as pb;
    use nomad_plugin_sdk::csi::{bind, CsiPlugin, Endpoint as CsiEndpoint, ServeOptions};
    errors();
    let dir = tempfile::tempdir().expect("temporary directory");
    let socket = dir.path().join("csi.sock");
    let plugin = CsiPlugin::new(Arc::new(csi_plugin::Panicky {
        panicked: AtomicBool::new(false),
    }));
    let options =
        ServeOptions::new(CsiEndpoint::parse(&socket.display().to_string()).expect("endpoint"));
    let bound = bind(&options).expect("bind the CSI socket");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.serve(plugin, async {
        let _ = stop_rx.await;
    }));
    let channel = connect(&Endpoint::Unix(socket.clone()))
        .await
        .expect("connect to the CSI plugin");
    let mut identity = pb::identity_client::IdentityClient::new(channel);
    assert_internal(
        identity.probe(pb::ProbeRequest {}).await,
        "csi-policy-panic in Probe",
    );
    let ready = identity
        .probe(pb::ProbeRequest {})
        .await
        .expect("Probe after the panic")
        .into_inner();
    assert_eq!(ready.ready, Some(true));
    drop(identity);
    let _ = stop_tx.send(());
    tokio::time::timeout(DEADLINE, server)
        .await
        .expect("the CSI plugin stops in time")
        .expect("the server task")
        .expect("a clean stop");
    assert!(!socket.exists(), "the socket is removed");
}

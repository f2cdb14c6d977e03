//! Hostile hosts: garbage and truncated HTTP/2 frames on the plugin's
//! socket, a client that opens 1,000 streams and vanishes, a 10 MB task
//! config, deeply nested msgpack, and concurrent Stop/Destroy of one task.
//! Each must get an error or a closed connection, and the plugin must keep
//! serving (a health check after each). Resident memory is printed, and
//! only a very generous bound is asserted; nothing here is timed.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use nomad_plugin_proto::nomad::drivers as pb;
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_testkit::launch::{Endpoint, Launcher, RunningPlugin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Only there so a bug fails the test instead of hanging it.
const LONG: Duration = Duration::from_secs(60);
const MB: u64 = 1024 * 1024;

async fn probe() -> RunningPlugin {
    Launcher::nomad(support::example("nomad-plugin-sdk", "runtime_probe"))
        .null_stdin()
        .launch()
        .await
        .expect("launch runtime_probe")
}

fn socket(plugin: &RunningPlugin) -> PathBuf {
    match &plugin.address().endpoint {
        Endpoint::Unix(p) => p.clone(),
        other => panic!("expected a unix socket, got {other:?}"),
    }
}

fn rss(plugin: &RunningPlugin) -> u64 {
    plugin.rss_bytes().expect("VmRSS of the plugin")
}

fn check_rss(what: &str, idle: u64, now: u64) {
    eprintln!(
        "{what}: RSS {:.1} MiB (idle {:.1} MiB)",
        now as f64 / MB as f64,
        idle as f64 / MB as f64
    );
    assert!(
        now < 4 * idle + 50 * MB,
        "{what}: RSS {now} bytes is far above idle ({idle} bytes)"
    );
}

/// An HTTP/2 frame header: 24-bit length, type, flags, stream id.
fn frame(len: u32, ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, ty, flags];
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[tokio::test]
async fn garbage_and_truncated_frames_close_the_connection_only() {
    let plugin = probe().await;
    let path = socket(&plugin);
    plugin.check_health().await.expect("healthy at start");
    let idle = rss(&plugin);

    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "plain garbage",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff".to_vec(),
        ),
        (
            "binary noise",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("truncated preface", PREFACE[..10].to_vec()),
        ("preface then nothing", PREFACE.to_vec()),
    ];
    let mut p = PREFACE.to_vec();
    p.extend(frame(6, 0x4, 0, 0, &[0, 3])); // SETTINGS cut short
    cases.push(("truncated SETTINGS", p));
    let mut p = PREFACE.to_vec();
    p.extend(frame(0, 0x4, 0, 0, &[]));
    p.extend(frame(0xff_ffff, 0x0, 0, 1, b"abc")); // DATA of 16 MiB, 3 bytes sent
    cases.push(("oversized DATA on an idle stream", p));
    let mut p = PREFACE.to_vec();
    p.extend(frame(0, 0x4, 0, 0, &[]));
    // HEADERS for /grpc.health.v1.Health/Check with a bogus HPACK block.
    p.extend(frame(
        8,
        0x1,
        0x4,
        1,
        &[0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x80, 0x01],
    ));
    cases.push(("bad HPACK", p));
    let mut p = PREFACE.to_vec();
    p.extend(frame(0, 0x4, 0, 0, &[]));
    p.extend(frame(4, 0x3, 0, 0, &[0, 0, 0, 8])); // RST_STREAM on stream 0
    cases.push(("RST_STREAM on stream 0", p));

    for (name, bytes) in cases {
        let mut s = tokio::net::UnixStream::connect(&path)
            .await
            .expect("connect to the plugin socket");
        // The peer may close before reading everything: that is fine.
        let _ = s.write_all(&bytes).await;
        let _ = s.shutdown().await;
        let mut sink = Vec::new();
        let read = tokio::time::timeout(LONG, s.read_to_end(&mut sink)).await;
        assert!(read.is_ok(), "{name}: the plugin kept the connection open");
        eprintln!("{name}: connection closed after {} bytes back", sink.len());
        plugin
            .check_health()
            .await
            .unwrap_or_else(|e| panic!("{name}: the plugin stopped serving: {e}"));
    }
    check_rss("after garbage frames", idle, rss(&plugin));
    assert!(plugin.kill().await.expect("stop").graceful);
}

#[tokio::test]
async fn a_thousand_abandoned_streams_are_released() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let plugin = probe().await;
    plugin.check_health().await.expect("healthy at start");
    let idle = rss(&plugin);
    // Ten connections of 100 streams each: under hyper's default limit of
    // 200 concurrent streams per connection, so every stream really opens.
    let path = socket(&plugin);
    let mut clients = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..10 {
        let path = path.clone();
        let channel = tonic::transport::Endpoint::from_static("http://plugin")
            .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await
            .expect("connect");
        let mut client = HealthClient::new(channel);
        for _ in 0..100 {
            let s = tokio::time::timeout(
                LONG,
                client.watch(HealthCheckRequest {
                    service: "plugin".into(),
                }),
            )
            .await
            .expect("Watch answers")
            .expect("Watch")
            .into_inner();
            streams.push(s);
        }
        clients.push(client);
    }
    check_rss("1,000 open Watch streams", idle, rss(&plugin));
    // The client vanishes: streams and connections dropped at once.
    drop(streams);
    drop(clients);
    plugin
        .check_health()
        .await
        .expect("serving after the streams vanish");
    check_rss("after 1,000 abandoned streams", idle, rss(&plugin));
    assert!(plugin.kill().await.expect("stop").graceful);
}

async fn rsexec(
    state: &std::path::Path,
) -> (RunningPlugin, DriverClient<tonic::transport::Channel>) {
    use nomad_plugin_proto::nomad::base::{self, base_plugin_client::BasePluginClient};
    let plugin = Launcher::nomad(support::bin("driver-rsexec", "rsexec"))
        .null_stdin()
        .launch()
        .await
        .expect("launch rsexec");
    let mut b = BasePluginClient::new(plugin.channel());
    let spec = b
        .config_schema(base::ConfigSchemaRequest {})
        .await
        .expect("ConfigSchema")
        .into_inner()
        .spec
        .expect("spec");
    let spec = nomad_plugin_sdk::host::schema::from_proto(&spec).expect("spec");
    let hcl = format!("state_dir = {:?}\n", state.display().to_string());
    b.set_config(base::SetConfigRequest {
        msgpack_config: nomad_plugin_testkit::hcl::encode_config(&hcl, &spec).expect("encode"),
        nomad_config: None,
        plugin_api_version: "v0.1.0".into(),
    })
    .await
    .expect("SetConfig");
    let c = DriverClient::new(plugin.channel());
    (plugin, c)
}

fn task(dir: &std::path::Path, id: &str, msgpack: Vec<u8>) -> pb::TaskConfig {
    pb::TaskConfig {
        id: format!("alloc-h/{id}/0000beef"),
        name: id.into(),
        msgpack_driver_config: msgpack,
        alloc_dir: dir.display().to_string(),
        stdout_path: dir.join(format!("{id}.stdout")).display().to_string(),
        stderr_path: dir.join(format!("{id}.stderr")).display().to_string(),
        alloc_id: "alloc-h".into(),
        ..Default::default()
    }
}

/// msgpack map {"command": "/bin/sh", "args": [...]} written by hand.
fn sh_config(script: &str) -> Vec<u8> {
    let mut v = vec![0x82, 0xa7];
    v.extend_from_slice(b"command");
    v.push(0xa7);
    v.extend_from_slice(b"/bin/sh");
    v.push(0xa4);
    v.extend_from_slice(b"args");
    v.push(0x92);
    v.extend_from_slice(&[0xa2, b'-', b'c']);
    v.push(0xdb);
    v.extend_from_slice(&(script.len() as u32).to_be_bytes());
    v.extend_from_slice(script.as_bytes());
    v
}

#[tokio::test]
async fn rsexec_refuses_huge_and_nested_configs_and_survives_stop_destroy_races() {
    let dir = std::env::temp_dir().join(format!("hostile-rsexec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    let (plugin, mut c) = rsexec(&dir.join("state")).await;
    plugin.check_health().await.expect("healthy");
    let idle = rss(&plugin);

    // 10 MB config: a clear error (gRPC's message limit or the decoder).
    let huge = sh_config(&format!("exit 0 # {}", "x".repeat(10 * 1024 * 1024)));
    let e = c
        .start_task(pb::StartTaskRequest {
            task: Some(task(&dir, "huge", huge)),
        })
        .await
        .expect_err("a 10 MB config is refused");
    eprintln!("10 MB config: {:?}: {}", e.code(), e.message());
    plugin
        .check_health()
        .await
        .expect("serving after 10 MB config");

    // 100,000 nested arrays where a string is expected, and as `args`.
    for (name, bytes) in [
        ("nested", {
            let mut v = vec![0x91; 100_000];
            v.push(0xc0);
            v
        }),
        ("nested-in-args", {
            let mut v = vec![0x82, 0xa7];
            v.extend_from_slice(b"command");
            v.extend_from_slice(&[0xa2, b's', b'h', 0xa4]);
            v.extend_from_slice(b"args");
            v.extend(std::iter::repeat_n(0x91, 100_000));
            v.push(0xc0);
            v
        }),
    ] {
        let e = c
            .start_task(pb::StartTaskRequest {
                task: Some(task(&dir, name, bytes)),
            })
            .await
            .expect_err("nested msgpack is refused");
        eprintln!("{name}: {:?}: {}", e.code(), e.message());
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{name}");
        plugin
            .check_health()
            .await
            .expect("serving after nested msgpack");
    }

    // Stop and Destroy of one task, concurrently, ten times over.
    for round in 0..10 {
        let id = format!("race{round}");
        let cfg = task(&dir, &id, sh_config("exec tail -f /dev/null"));
        let full = cfg.id.clone();
        c.start_task(pb::StartTaskRequest { task: Some(cfg) })
            .await
            .expect("StartTask");
        let mut calls = Vec::new();
        for i in 0..4 {
            let mut cc = c.clone();
            let full = full.clone();
            calls.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    cc.stop_task(pb::StopTaskRequest {
                        task_id: full,
                        timeout: Some(prost_types::Duration {
                            seconds: 5,
                            nanos: 0,
                        }),
                        signal: "SIGKILL".into(),
                    })
                    .await
                    .map(|_| ())
                } else {
                    cc.destroy_task(pb::DestroyTaskRequest {
                        task_id: full,
                        force: true,
                    })
                    .await
                    .map(|_| ())
                }
            }));
        }
        for call in calls {
            if let Err(e) = tokio::time::timeout(LONG, call)
                .await
                .expect("Stop/Destroy answer")
                .expect("join")
            {
                // A clear refusal: the task is gone or still running.
                assert!(
                    matches!(
                        e.code(),
                        tonic::Code::NotFound | tonic::Code::FailedPrecondition
                    ),
                    "{id}: {:?}: {}",
                    e.code(),
                    e.message()
                );
            }
        }
        // Whatever the interleaving, a forced destroy leaves nothing behind.
        let _ = c
            .destroy_task(pb::DestroyTaskRequest {
                task_id: full.clone(),
                force: true,
            })
            .await;
        let gone = c
            .inspect_task(pb::InspectTaskRequest { task_id: full })
            .await
            .expect_err("destroyed");
        assert_eq!(gone.code(), tonic::Code::NotFound, "{id}");
    }
    plugin
        .check_health()
        .await
        .expect("serving after the races");
    check_rss("rsexec after hostile configs and races", idle, rss(&plugin));
    assert!(plugin.kill().await.expect("stop").graceful);
    let _ = std::fs::remove_dir_all(&dir);
}

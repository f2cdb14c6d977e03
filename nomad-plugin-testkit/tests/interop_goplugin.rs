//! hashicorp/go-plugin v1.8.0's own client (the one Nomad embeds) loads a
//! plugin built on the SDK's serve runtime. The Go host lives in
//! `interop/cmd/goplugin-host` and prints a JSON report.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn probe() -> PathBuf {
    support::example("nomad-plugin-sdk", "runtime_probe")
}

fn host() -> PathBuf {
    support::go_host("goplugin-host")
}

fn run_host(args: &[&str]) -> Value {
    run_host_env(args, &[])
}

fn run_host_env(args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = Command::new(host())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run Go host");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "Go host printed no report ({e}): stdout {text}\nstderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn plugin_logs(report: &Value) -> Vec<(String, String)> {
    report["logs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    (
                        l["@level"].as_str().unwrap_or("").to_string(),
                        l["@message"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn go_plugin_client_loads_pings_streams_and_kills() {
    let plugin = probe();
    let report = run_host_env(
        &[
            "-plugin",
            plugin.to_str().expect("utf-8 path"),
            "-wait-stdout",
            "hello on stdout",
        ],
        &[("RUNTIME_PROBE_PANIC", "1")],
    );
    assert_eq!(report["connected"], true, "{report:#}");
    assert_eq!(report["ping"], true, "{report:#}");
    assert_eq!(report["stdio"]["stdout"], "hello on stdout\n", "{report:#}");
    // Fd 2 is the host's stderr, not the GRPCStdio stream (which Nomad
    // discards): nothing arrives on the stream's stderr channel.
    assert_eq!(report["stdio"]["stderr"], "", "{report:#}");
    // go-plugin parsed our hclog lines and logged each at its own level;
    // lines that are not JSON (eprintln!, a raw write on fd 2, a child
    // process's stderr) at debug, and the panic at error.
    let logs = plugin_logs(&report);
    for (level, msg) in [
        ("trace", "trace line"),
        ("debug", "debug line"),
        ("info", "info line"),
        ("warn", "warn line"),
        ("error", "error line"),
        ("debug", "hello on stderr"),
        ("debug", "raw write on fd 2"),
        ("debug", "child process on stderr"),
        ("error", "plugin panicked"),
    ] {
        assert!(
            logs.contains(&(level.to_string(), msg.to_string())),
            "no {level} {msg:?} in {logs:?}"
        );
    }
    // Shutdown made the process exit by itself: no SIGKILL after 2 s.
    assert_eq!(report["graceful"], true, "{report:#}");
    assert_eq!(report["exited"], true, "{report:#}");
}

#[test]
fn go_plugin_client_sees_a_wrong_cookie_refused() {
    let plugin = probe();
    let report = run_host(&[
        "-plugin",
        plugin.to_str().expect("utf-8"),
        "-cookie",
        "wrong",
    ]);
    assert_eq!(report["connected"], false);
    let logs = plugin_logs(&report);
    assert!(
        logs.iter().any(|(_, m)| m
            .contains("This binary is a plugin. These are not meant to be executed directly.")),
        "{logs:?}"
    );
}

#[test]
fn go_plugin_client_reports_a_protocol_mismatch() {
    let plugin = probe();
    let report = run_host(&["-plugin", plugin.to_str().expect("utf-8"), "-version", "3"]);
    assert_eq!(report["connected"], false);
    assert_eq!(
        report["error"],
        "incompatible API version with plugin. Plugin version: 2, Client versions: [3]"
    );
}

/// go-plugin's 7th handshake field: a host that requires the multiplexed
/// gRPC broker (`GRPCBrokerMultiplex`, which sets PLUGIN_MULTIPLEX_GRPC)
/// gets `false` and refuses the plugin with go-plugin's own error, and the
/// plugin says why in its log. A host that does not ask (Nomad) is served
/// as usual (`go_plugin_client_loads_pings_streams_and_kills`).
#[test]
fn a_host_that_requires_the_multiplexed_broker_is_refused_clearly() {
    let plugin = probe();
    let report = run_host(&["-plugin", plugin.to_str().expect("utf-8"), "-mux"]);
    assert_eq!(report["connected"], false, "{report:#}");
    assert_eq!(
        report["error"],
        "client requested gRPC broker multiplexing but plugin does not support the feature",
        "{report:#}"
    );
    let logs = plugin_logs(&report);
    assert!(
        logs.iter().any(|(level, msg)| level == "warn"
            && msg.contains("multiplexed gRPC broker")
            && msg.contains("does not support")),
        "no warning about the multiplexed broker in {logs:?}"
    );
}

/// The host dies in the middle of a streaming call. The orphaned plugin must
/// neither crash nor spin: it keeps serving the next client, and stops when
/// asked.
#[tokio::test]
async fn plugin_survives_a_host_killed_mid_call() {
    use nomad_plugin_proto::go_plugin::grpc_controller_client::GrpcControllerClient;
    use nomad_plugin_proto::go_plugin::Empty;
    use nomad_plugin_testkit::launch::{connect, Endpoint};
    use tokio::io::{AsyncBufReadExt, BufReader};

    let plugin = probe();
    let mut host = tokio::process::Command::new(host())
        .args(["-plugin", plugin.to_str().expect("utf-8"), "-hang"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start Go host");
    let mut lines = BufReader::new(host.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .expect("host announced the plugin in time")
        .expect("read host stdout")
        .expect("a line");
    let info: Value = serde_json::from_str(&first).expect("json line");
    let pid = info["pid"].as_i64().expect("pid") as i32;
    let addr = info["addr"].as_str().expect("addr").to_string();
    assert_eq!(info["network"], "unix");

    host.start_kill().expect("kill host");
    host.wait().await.expect("reap host");

    let channel = connect(&Endpoint::Unix(addr.clone().into()))
        .await
        .expect("plugin still accepts connections after its host died");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await
        .expect("health after host death")
        .into_inner()
        .status;
    assert_eq!(status, 1, "SERVING");

    let _ = GrpcControllerClient::new(channel).shutdown(Empty {}).await;
    assert!(
        support::wait_pid_gone(pid, Duration::from_secs(30)).await,
        "orphaned plugin did not exit after Shutdown"
    );
    assert!(!std::path::Path::new(&addr).exists(), "socket left behind");
}

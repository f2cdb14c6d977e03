//! go-plugin's AutoMTLS between the testkit (or go-plugin's own client) and
//! a plugin built on the SDK's runtime with the `automtls` feature.
#![cfg(feature = "automtls")]

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use nomad_plugin_testkit::launch::{connect, Launcher};

fn probe() -> PathBuf {
    support::example("nomad-plugin-sdk", "runtime_probe")
}

#[tokio::test]
async fn testkit_negotiates_automtls() {
    let plugin = Launcher::nomad(probe())
        .auto_mtls()
        .null_stdin()
        .launch()
        .await
        .expect("launch with AutoMTLS");
    let cert = plugin
        .address()
        .server_cert
        .clone()
        .expect("certificate in handshake");
    assert!(cert.len() > 100, "DER certificate expected");

    // Without TLS the plugin's listener answers nothing useful: the health
    // call fails, and the plugin keeps serving its real host.
    let plain = connect(&plugin.address().endpoint).await;
    if let Ok(channel) = plain {
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let res = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            health.check(tonic_health::pb::HealthCheckRequest {
                service: "plugin".into(),
            }),
        )
        .await;
        assert!(
            !matches!(res, Ok(Ok(_))),
            "a plaintext client must not get through"
        );
    }
    plugin.check_health().await.expect("TLS host still served");
    let report = plugin.kill().await.expect("kill");
    assert!(report.graceful, "{report:?}");
}

#[test]
fn go_plugin_client_negotiates_automtls() {
    let out = Command::new(support::go_host("goplugin-host"))
        .args([
            "-plugin",
            probe().to_str().expect("utf-8"),
            "-mtls",
            "-wait-stdout",
            "hello on stdout",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run Go host");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(report["connected"], true, "{report:#}");
    assert_eq!(report["ping"], true, "{report:#}");
    assert_eq!(report["stdio"]["stdout"], "hello on stdout\n", "{report:#}");
    assert_eq!(report["graceful"], true, "{report:#}");
}

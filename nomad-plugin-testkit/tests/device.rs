//! The device suite, the interactive launcher and hashicorp/go-plugin's
//! client against the reference device plugin (`examples/device-blockdev`).

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use nomad_plugin_testkit::device::{repl, DevicePlugin, DeviceSuite};
use nomad_plugin_testkit::report::CheckStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn blockdev() -> PathBuf {
    support::bin("device-blockdev", "device-blockdev")
}

/// Fast fingerprints; virtual devices (loop, ram, zram) stay hidden, since
/// other tests attach loop devices and would change them under us.
const CONFIG: &str = "fingerprint_period = \"1s\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_passes_against_the_reference_plugin() {
    let report = DeviceSuite::new(blockdev())
        .config(CONFIG)
        .stats_interval(Duration::from_millis(500), 3)
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
    for check in [
        "launch",
        "fingerprint.first",
        "fingerprint.valid",
        "fingerprint.ids_unique",
        "fingerprint.stream_stays_open",
        "reserve.unknown",
        "stats.interval",
        "stats.coverage",
        "reattach.killed",
        "fingerprint.ids_stable",
    ] {
        assert_eq!(
            report.status(check),
            Some(CheckStatus::Passed),
            "{check}: {report}"
        );
    }
    // reserve.known needs a real (non-virtual) disk; every CI machine has one.
    assert_ne!(
        report.status("reserve.known"),
        Some(CheckStatus::Failed),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_reports_a_reservation_nomad_could_not_use() {
    // Device nodes looked up in a directory that does not exist: every
    // Reserve of a known device fails, as it would for a broken plugin.
    let report = DeviceSuite::new(blockdev())
        .config(format!("{CONFIG}dev_dir = \"/nonexistent-dev\"\n"))
        .stats_interval(Duration::from_millis(300), 2)
        .run()
        .await;
    let devices_found = report
        .check("fingerprint.valid")
        .map(|c| !c.detail.starts_with("0 device"))
        .unwrap_or(false);
    if devices_found {
        assert_eq!(
            report.status("reserve.known"),
            Some(CheckStatus::Failed),
            "{report}"
        );
        let detail = &report.check("reserve.known").unwrap().detail;
        assert!(
            detail.contains("tasks asking for this device would fail to start"),
            "{detail}"
        );
        assert!(!report.passed());
    } else {
        assert_eq!(
            report.status("reserve.known"),
            Some(CheckStatus::Skipped),
            "{report}"
        );
    }
    // A config Nomad would refuse stops the suite at launch, in Nomad's words.
    let bad = DeviceSuite::new(blockdev())
        .config("fingerprint_period = \"soon\"\n")
        .run()
        .await;
    assert_eq!(bad.status("launch"), Some(CheckStatus::Failed), "{bad}");
    assert!(
        bad.check("launch")
            .unwrap()
            .detail
            .contains("fingerprint_period"),
        "{bad}"
    );
}

/// Reads `out` until `needle` has appeared (returns everything read).
async fn read_until(out: &mut tokio::io::DuplexStream, seen: &mut String, needle: &str) -> String {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        let mut buf = [0u8; 4096];
        while !seen.contains(needle) {
            let n = out.read(&mut buf).await.expect("read repl output");
            assert!(n > 0, "repl output ended before {needle:?}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await;
    assert!(found.is_ok(), "no {needle:?} within 60 s: {seen}");
    // Hand back up to the needle; keep the rest for the next wait.
    let end = seen
        .find(needle)
        .map(|i| i + needle.len())
        .unwrap_or(seen.len());
    let rest = seen.split_off(end);
    std::mem::replace(seen, rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_launcher_fingerprints_reserves_and_streams_stats() {
    let plugin = DevicePlugin::launch(blockdev(), Some(CONFIG))
        .await
        .expect("launch");
    let (mut input, repl_in) = tokio::io::duplex(4096);
    let (repl_out, mut output) = tokio::io::duplex(1 << 20);
    let session = tokio::spawn(async move {
        let r = repl::run(&plugin, tokio::io::BufReader::new(repl_in), repl_out).await;
        (plugin, r)
    });
    let mut seen = String::new();
    read_until(&mut output, &mut seen, "commands:").await;

    input.write_all(b"fingerprint()\n").await.unwrap();
    let text = read_until(&mut output, &mut seen, "fingerprint:").await;
    assert!(!text.contains("INVALID"), "{text}");
    input.write_all(b"reserve(no-such-disk)\n").await.unwrap();
    let text = read_until(&mut output, &mut seen, "unknown device IDs: no-such-disk").await;
    assert!(text.contains("reserve failed: NotFound"), "{text}");
    input.write_all(b"stats 200ms\n").await.unwrap();
    read_until(&mut output, &mut seen, "stats:").await;
    input.write_all(b"stop_stats\nbogus\n").await.unwrap();
    read_until(&mut output, &mut seen, "unknown command \"bogus\"").await;
    input.write_all(b"exit\n").await.unwrap();

    let (plugin, result) = tokio::time::timeout(Duration::from_secs(60), session)
        .await
        .expect("repl ends on exit")
        .expect("repl task");
    result.expect("repl io");
    let kill = plugin.kill().await.expect("kill");
    assert!(kill.graceful, "{kill:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_plugin_client_loads_fingerprints_and_reserves() {
    let bin = blockdev();
    // The msgpack Nomad would send for this HCL, encoded by the testkit
    // with the schema the plugin reports.
    let plugin = DevicePlugin::launch(&bin, None)
        .await
        .expect("launch for the schema");
    let spec = plugin
        .schema()
        .cloned()
        .expect("device-blockdev has a schema");
    plugin.kill().await.expect("kill");
    let msgpack = nomad_plugin_testkit::hcl::encode_config(CONFIG, &spec).expect("encode");
    let hex: String = msgpack.iter().map(|b| format!("{b:02x}")).collect();

    let host = support::go_host("device-host");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(host)
            .args([
                "-plugin",
                bin.to_str().expect("utf-8 path"),
                "-config",
                &hex,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run the Go device host")
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "{report:#}");
    assert_eq!(report["plugin_type"], "DEVICE", "{report:#}");
    assert_eq!(report["plugin_name"], "device-blockdev");
    assert_eq!(report["set_config"], "ok");
    assert_eq!(report["stream_open"], true, "{report:#}");
    assert!(
        report["unknown_error"]
            .as_str()
            .unwrap_or("")
            .contains("unknown device IDs: no-such-device"),
        "{report:#}"
    );
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    for g in &groups {
        assert_eq!(g["vendor"], "linux");
        assert_eq!(g["type"], "block");
        let size = g["attributes"]["size"].as_str().unwrap_or("");
        assert!(
            size.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{g}"
        );
    }
    let reserved = report["reserved_id"].as_str().unwrap_or("");
    if !reserved.is_empty() {
        assert_eq!(report["reserve_nil"], false);
        assert_eq!(
            report["envs"]["BLOCKDEV_DEVICES"],
            format!("/dev/{reserved}"),
            "{report:#}"
        );
        assert_eq!(
            report["device_nodes"][0],
            format!("/dev/{reserved}:/dev/{reserved}:rw"),
            "{report:#}"
        );
        assert_eq!(report["stats_stamped"], true, "{report:#}");
        let ids: Vec<&str> = report["stats_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert!(ids.contains(&reserved), "{report:#}");
    }
}

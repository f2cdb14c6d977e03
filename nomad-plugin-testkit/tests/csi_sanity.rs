//! kubernetes-csi's csi-sanity, the community's CSI conformance suite (a Go
//! program built from the version pinned in interop/csi-sanity/go.mod),
//! against the reference host-path plugin. Every spec it runs must pass.
//!
//! Nothing is skipped by name: csi-sanity skips on its own what the plugin
//! does not advertise. For csi-hostpath that is node expansion, volume
//! health, modify volume (mutable parameters), group snapshots, the
//! single-node-multi-writer modes and snapshot accessibility;
//! docs/src/csi-plugins.md lists them with the reasons.

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nomad_plugin_testkit::csi::{CsiLaunch, ProbeOptions};

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("csi-sanity-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Drops ANSI colour sequences (`ESC [ ... letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads ginkgo's summary line: "P Passed | F Failed | N Pending | S Skipped".
fn counts(output: &str) -> Option<(u32, u32, u32)> {
    let clean = strip_ansi(output);
    let line = clean.lines().find(|l| l.contains(" Passed | "))?;
    let (mut passed, mut failed, mut skipped) = (None, None, 0);
    for part in line.split('|') {
        let words: Vec<&str> = part.split_whitespace().collect();
        for pair in words.windows(2) {
            let Ok(n) = pair[0].parse::<u32>() else {
                continue;
            };
            match pair[1] {
                "Passed" => passed = Some(n),
                "Failed" => failed = Some(n),
                "Skipped" => skipped = n,
                _ => {}
            }
        }
    }
    Some((passed?, failed?, skipped))
}

#[tokio::test(flavor = "multi_thread")]
async fn csi_sanity_passes_against_hostpath() {
    let sanity = support::csi_sanity();
    let plugin_bin = support::bin("csi-hostpath", "csi-hostpath");
    let dir = scratch();
    let plugin = CsiLaunch::new(plugin_bin)
        .args(["--node-id", "sanity-node", "--capacity", "1099511627776"])
        // A limit, so csi-sanity's attach-limit spec runs too.
        .args(["--max-volumes", "4"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .probe(ProbeOptions {
            interval: Duration::from_millis(500),
            ..ProbeOptions::default()
        })
        .start()
        .await
        .expect("start csi-hostpath");

    let mut cmd = tokio::process::Command::new(&sanity);
    cmd.arg(format!("--csi.endpoint={}", plugin.socket().display()))
        .arg(format!("--csi.mountdir={}", dir.join("mnt").display()))
        .arg(format!(
            "--csi.stagingdir={}",
            dir.join("staging").display()
        ))
        .arg("--csi.testnodevolumeattachlimit")
        .arg("--ginkgo.no-color")
        .arg("--ginkgo.v")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("start csi-sanity");
    let out = tokio::time::timeout(Duration::from_secs(900), child.wait_with_output())
        .await
        .expect("csi-sanity finishes within 15 minutes")
        .expect("csi-sanity output");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = counts(&text);
    if !out.status.success() || summary.is_none_or(|(_, f, _)| f != 0) {
        panic!(
            "csi-sanity failed ({}), plugin log:\n{}\n\ncsi-sanity output:\n{text}",
            out.status,
            plugin.output()
        );
    }
    let (passed, failed, skipped) = summary.unwrap_or_default();
    println!("csi-sanity: {passed} passed, {failed} failed, {skipped} skipped");
    assert!(
        passed >= 76,
        "csi-sanity ran only {passed} specs; the plugin's capabilities shrank?\n{text}"
    );
    let stopped = plugin.stop(Duration::from_secs(20)).await.expect("stop");
    let status = stopped.status.expect("exits on SIGTERM");
    assert!(status.success(), "{status}:\n{}", stopped.output);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reads_ginkgo_summary() {
    let line = "\u{1b}[38;5;10m\u{1b}[1m75 Passed\u{1b}[0m | \u{1b}[38;5;9m\u{1b}[1m0 Failed\u{1b}[0m | 1 Pending | 27 Skipped";
    assert_eq!(counts(line), Some((75, 0, 27)));
    assert_eq!(
        counts("SUCCESS! -- 3 Passed | 1 Failed | 0 Pending | 2 Skipped"),
        Some((3, 1, 2))
    );
    assert_eq!(counts("nothing here"), None);
}

//! Every `PluginError` kind from every RPC that can fail, read by a Go host
//! on go-plugin v1.8.0 the way Nomad's plugin clients read errors
//! (`interop/cmd/error-host`): the status code, the `RecoverableError`
//! detail that `StartTask` looks at, `Unimplemented` ignored
//! from `Init`/`Shutdown`, and, above all, that no error takes the client's
//! `Unavailable` path, which waits 3 s for the plugin to exit before
//! returning it. The plugin is the SDK's `error_probe` example, started
//! once per kind. The table in docs/src/concepts.md is this test's
//! expectation in prose. Last, a `TaskStats` stream whose driver call
//! fails mid-stream must end the way Go's server ends it.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value as Json;

const KINDS: [(&str, &str); 8] = [
    ("invalid_config", "InvalidArgument"),
    ("invalid_argument", "InvalidArgument"),
    ("not_found", "NotFound"),
    ("already_exists", "AlreadyExists"),
    ("failed_precondition", "FailedPrecondition"),
    ("unimplemented", "Unimplemented"),
    ("retryable", "FailedPrecondition"),
    ("internal", "Internal"),
];

const DRIVER_RPCS: [&str; 15] = [
    "SetConfig",
    "Init",
    "StartTask",
    "RecoverTask",
    "WaitTask",
    "StopTask",
    "DestroyTask",
    "InspectTask",
    "TaskStats",
    "SignalTask",
    "ExecTask",
    "ExecTaskStreaming",
    "CreateNetwork",
    "DestroyNetwork",
    "Shutdown",
];

const DEVICE_RPCS: [&str; 2] = ["SetConfig", "Reserve"];

/// What Nomad's client does with `kind` from `rpc`.
fn nomad_outcome(kind: &str, rpc: &str) -> &'static str {
    match (kind, rpc) {
        ("retryable", "StartTask") => "recoverable",
        ("unimplemented", "Init" | "Shutdown") => "ignored",
        // The status of a server stream arrives on its first message, where
        // the client only logs it; the recoverable detail is never read.
        (_, "TaskStats") => "stream_error_logged",
        _ => "error",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_kind_reaches_a_go_plugin_client_as_intended() {
    let probe = support::example("nomad-plugin-sdk", "error_probe");
    let host = support::go_host("error-host");
    let mut cmd = tokio::process::Command::new(host);
    cmd.arg("-plugin")
        .arg(&probe)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("error-host finished within 5 minutes")
        .expect("run error-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "error-host printed no JSON report ({e}): {}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert!(
        out.status.success() && report.get("error").is_none(),
        "error-host failed: {report:#}\nstderr:\n{stderr}"
    );
    let entries = report["entries"].as_array().expect("entries");

    let mut seen = BTreeSet::new();
    let mut stats_then_gone = None;
    for e in entries {
        let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        let (plugin, kind, rpc) = (s("plugin"), s("kind"), s("rpc"));
        if kind == "stats_then_gone" {
            stats_then_gone = Some(e.clone());
            continue;
        }
        let at = format!("{plugin} {rpc} returning {kind}");
        let expected_code = KINDS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, c)| *c)
            .unwrap_or_else(|| panic!("{at}: unknown kind in the report"));
        assert_eq!(s("code"), expected_code, "{at}: {e}");
        let prefix = if kind == "invalid_config" {
            "invalid configuration: "
        } else {
            ""
        };
        assert_eq!(
            s("message"),
            format!("{prefix}{rpc} failed on purpose ({kind})"),
            "{at}: the operator reads the plugin's message unchanged"
        );
        let recoverable = e["recoverable"].as_bool();
        if kind == "retryable" {
            assert_eq!(
                recoverable,
                Some(true),
                "{at}: RecoverableError{{recoverable: true}} as the first detail: {e}"
            );
        } else {
            assert_eq!(recoverable, None, "{at}: no recoverable detail: {e}");
        }
        assert_eq!(
            e["stalled"].as_bool(),
            Some(false),
            "{at}: the client took its Unavailable path (a 3 s wait for the plugin to exit): {e}"
        );
        assert_eq!(s("nomad"), nomad_outcome(&kind, &rpc), "{at}: {e}");
        seen.insert((plugin, kind, rpc));
    }

    let mut expected = BTreeSet::new();
    for (kind, _) in KINDS {
        for rpc in DRIVER_RPCS {
            expected.insert(("driver".to_string(), kind.to_string(), rpc.to_string()));
        }
        for rpc in DEVICE_RPCS {
            expected.insert(("device".to_string(), kind.to_string(), rpc.to_string()));
        }
    }
    assert_eq!(
        seen, expected,
        "one entry per plugin kind, error kind and RPC"
    );

    // A TaskStats stream whose driver call fails after the first message
    // ends as Go's server ends it: OK, which the client reads as io.EOF and
    // closes without logging an error.
    let e = stats_then_gone.expect("the stats_then_gone entry");
    assert_eq!(e["code"], "OK", "{e}");
    assert_eq!(e["nomad"], "eof", "{e}");
}

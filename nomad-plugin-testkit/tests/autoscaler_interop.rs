//! nomad-autoscaler v0.5.0's own agent config parsing, Nomad-config merge
//! and `plugins/manager` (run by `interop/cmd/autoscaler-host`) load the
//! SDK's reference plugins from an agent config and call them as a policy
//! evaluation does.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// A plugin_dir holding the three reference plugins under their own names,
/// plus extra names pointing at them.
fn plugin_dir(tag: &str, extra: &[(&str, &Path)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("autoscaler-interop-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("plugins")).expect("plugin dir");
    for (pkg, bin) in [
        ("apm-procfs", "apm-procfs"),
        ("strategy-target-value", "strategy-target-value"),
        ("target-file", "target-file"),
    ] {
        let built = support::bin(pkg, bin);
        std::os::unix::fs::symlink(&built, dir.join("plugins").join(bin)).expect("symlink");
    }
    for (name, to) in extra {
        std::os::unix::fs::symlink(to, dir.join("plugins").join(name)).expect("symlink");
    }
    dir
}

/// Runs the Go host (killing it if it takes more than five minutes) and
/// parses its report.
fn run_host(dir: &Path, agent_hcl: &str, args: &[String]) -> Value {
    let config = dir.join("agent.hcl");
    std::fs::write(&config, agent_hcl).expect("agent config");
    let mut cmd = Command::new(support::go_host("autoscaler-host"));
    cmd.arg("-config").arg(&config).args(args);
    for var in [
        "NOMAD_ADDR",
        "NOMAD_REGION",
        "NOMAD_NAMESPACE",
        "NOMAD_TOKEN",
        "NOMAD_HTTP_AUTH",
        "NOMAD_CACERT",
        "NOMAD_CAPATH",
        "NOMAD_CLIENT_CERT",
        "NOMAD_CLIENT_KEY",
        "NOMAD_TLS_SERVER_NAME",
        "NOMAD_SKIP_VERIFY",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start Go host");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let mut err = String::new();
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut err);
        let _ = tx.send(());
        (out, err)
    });
    if rx.recv_timeout(Duration::from_secs(300)).is_err() {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait for Go host");
    let (out, err) = reader.join().expect("reader thread");
    assert!(status.success(), "Go host failed ({status}): {err}");
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("Go host printed no report ({e}): {out}\nstderr: {err}"))
}

fn plugin<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["plugins"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no plugin {name} in {report:#}"))
}

#[test]
fn agent_loads_and_calls_the_reference_plugins() {
    let dir = plugin_dir("full", &[]);
    std::fs::write(dir.join("count"), "2\n").expect("seed count");
    let hcl = format!(
        r#"
plugin_dir = "{plugins}"
nomad {{
  address = "http://nomad.example:4646"
  token   = "agent-token"
}}
apm "procfs" {{
  driver = "apm-procfs"
  config = {{
    sample_interval = "200ms"
    nomad_token     = "operator-token"
  }}
}}
strategy "tv" {{
  driver = "strategy-target-value"
}}
target "file" {{
  driver = "target-file"
  config = {{
    base_dir             = "{base}"
    nomad_config_inherit = "false"
  }}
}}
"#,
        plugins = dir.join("plugins").display(),
        base = dir.display()
    );
    // A block labelled as a built-in ("target-value") would keep the
    // built-in's driver: agent/config's Plugin.merge copies name, args and
    // config over config.Default()'s blocks, never the driver.
    let args: Vec<String> = [
        "-query=procfs=load_1",
        "-query=procfs=avg(memory_percent)",
        "-query=procfs=bogus",
        r#"-run=tv={"count":2,"metrics":[5,26],"config":{"target":"13"}}"#,
        r#"-run=tv={"count":2,"metrics":[26],"config":{}}"#,
        r#"-status=file={"path":"count"}"#,
        r#"-scale=file={"count":4,"direction":"up","config":{"path":"count"}}"#,
        r#"-scale=file={"count":4,"direction":"up","config":{"path":"count"}}"#,
        r#"-status=file={"path":"count"}"#,
        // A policy check end to end: status (4), load_1 over the window,
        // target-value with a tiny target (scales up), then scale.
        r#"-eval=procfs|load_1|tv|file={"target":"0.000001","path":"count"}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let report = run_host(&dir, &hcl, &args);
    assert_eq!(report["config_error"], Value::Null, "{report:#}");

    // Loading: each plugin passed the manager's checks and took its config.
    for (name, kind, driver) in [
        ("procfs", "apm", "apm-procfs"),
        ("tv", "strategy", "strategy-target-value"),
        ("file", "target", "target-file"),
    ] {
        let p = plugin(&report, name);
        assert_eq!(p["dispensed"], true, "{name}: {p:#}");
        assert_eq!(p["info"]["Name"], driver, "{p:#}");
        assert_eq!(p["info"]["PluginType"], kind, "{p:#}");
    }
    // The agent's Nomad settings were merged, the operator's value winning,
    // and not at all where the block opted out.
    let sent = &plugin(&report, "procfs")["config_sent"];
    assert_eq!(
        sent["nomad_address"], "http://nomad.example:4646",
        "{sent:#}"
    );
    assert_eq!(sent["nomad_token"], "operator-token", "{sent:#}");
    // agent/config/config.go's default block_query_wait_time (5m), merged
    // by sdk/helper/nomad as a Go duration.
    assert_eq!(sent["nomad_block-query-wait-time"], "5m0s", "{sent:#}");
    let sent = &plugin(&report, "tv")["config_sent"];
    assert_eq!(sent["nomad_token"], "agent-token", "{sent:#}");
    assert!(plugin(&report, "file")["config_sent"]
        .get("nomad_address")
        .is_none());

    // Queries: points sorted and inside the window; a bad query is an error.
    let queries = report["queries"].as_array().expect("queries");
    for q in &queries[..2] {
        assert_eq!(q["error"], Value::Null, "{q:#}");
        let points = q["points"].as_array().expect("points");
        assert!(!points.is_empty(), "{q:#}");
        let (from, to) = (q["from_unix_nanos"].as_i64(), q["to_unix_nanos"].as_i64());
        let (from, to) = (from.expect("from"), to.expect("to"));
        let times: Vec<i64> = points
            .iter()
            .filter_map(|p| p["unix_nanos"].as_i64())
            .collect();
        assert!(times.iter().all(|t| (from..=to).contains(t)), "{q:#}");
    }
    assert_eq!(
        queries[1]["points"].as_array().map(Vec::len),
        Some(1),
        "aggregate: one point"
    );
    let bogus = queries[2]["error"].as_str().expect("bogus query refused");
    assert!(
        bogus.contains("InvalidArgument") && bogus.contains("unknown metric"),
        "{bogus}"
    );

    // Strategy: the built-in formula, and a missing target refused.
    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(runs[0]["action"]["direction"], "up", "{:#}", runs[0]);
    assert_eq!(runs[0]["action"]["count"], 4, "{:#}", runs[0]);
    assert_eq!(
        runs[0]["action"]["reason"],
        "scaling up because factor is 2.000000"
    );
    let missing = runs[1]["error"].as_str().expect("missing target refused");
    assert!(
        missing.contains("missing required field `target`"),
        "{missing}"
    );

    // Target: status, a scale, the same scale again as a no-op (ABORTED).
    let statuses = report["statuses"].as_array().expect("statuses");
    assert_eq!(
        (statuses[0]["ready"].clone(), statuses[0]["count"].clone()),
        (Value::Bool(true), 2.into())
    );
    let scales = report["scales"].as_array().expect("scales");
    assert_eq!(scales[0]["error"], Value::Null, "{:#}", scales[0]);
    assert_eq!(scales[1]["no_op"], true, "{:#}", scales[1]);
    assert_eq!(statuses[1]["count"], 4, "{:#}", statuses[1]);
    // The policy evaluation: each stage's result feeds the next.
    let eval = &report["evals"][0];
    assert_eq!(eval["error"], Value::Null, "{eval:#}");
    assert_eq!(eval["status"]["count"], 4, "{eval:#}");
    let points = eval["query"]["points"].as_array().expect("points");
    assert!(!points.is_empty(), "{eval:#}");
    let load = points
        .last()
        .and_then(|p| p["value"].as_f64())
        .expect("value");
    let action = &eval["action"];
    let count = action["count"].as_i64().expect("count");
    if load > 0.0 {
        // load / 0.000001 is far above 1: target-value scales up.
        assert_eq!(action["direction"], "up", "{eval:#}");
        assert!(count > 4, "{eval:#}");
    } else {
        // An idle host: factor 0 scales down.
        assert_eq!(action["direction"], "down", "{eval:#}");
    }
    // The action the strategy chose is what the target applied.
    assert_eq!(eval["scale"]["error"], Value::Null, "{eval:#}");
    assert_eq!(eval["scale"]["count"], count, "{eval:#}");
    assert_eq!(
        std::fs::read_to_string(dir.join("count")).expect("count"),
        format!("{count}\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn agent_refuses_a_plugin_in_the_wrong_block_and_follows_renames() {
    let built = support::bin("strategy-target-value", "strategy-target-value");
    let procfs = support::bin("apm-procfs", "apm-procfs");
    let dir = plugin_dir("refuse", &[("my-metrics", &procfs), ("tv-as-apm", &built)]);
    let hcl = format!(
        r#"
plugin_dir = "{plugins}"
apm "wrong" {{
  driver = "tv-as-apm"
}}
apm "renamed" {{
  driver = "my-metrics"
}}
"#,
        plugins = dir.join("plugins").display()
    );
    let report = run_host(&dir, &hcl, &["-query=renamed=load_1".to_string()]);
    let wrong = plugin(&report, "wrong");
    assert_eq!(wrong["dispensed"], false, "{wrong:#}");
    let err = wrong["error"].as_str().expect("error");
    assert!(
        err.contains("remote info doesn't match local config"),
        "{err}"
    );
    // The SDK's default name is the file name the agent ran.
    let renamed = plugin(&report, "renamed");
    assert_eq!(renamed["dispensed"], true, "{renamed:#}");
    assert_eq!(renamed["info"]["Name"], "my-metrics", "{renamed:#}");
    assert_eq!(report["queries"][0]["error"], Value::Null, "{report:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

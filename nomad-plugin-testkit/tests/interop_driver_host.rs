//! The reference driver configured by the real thing: `interop/cmd/driver-host`
//! loads `rsexec` through hashicorp/go-plugin's client, turns its
//! `ConfigSchema`/`TaskConfigSchema` into hcldec specs, decodes agent and
//! task HCL with hashicorp/hcl v2, encodes with go-cty's msgpack, and drives
//! a short task (start, wait) and a long one (start, stop, wait, destroy).
//! Here the testkit configures the same plugin from the same HCL: the bytes
//! must be identical, the plugin must log the same decoded agent config
//! either way, and the tasks must behave as the HCL says.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_proto::nomad::base::{
    ConfigSchemaRequest, NomadConfig, NomadDriverConfig, SetConfigRequest,
};
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::{
    DestroyTaskRequest, StartTaskRequest, TaskConfig, TaskConfigSchemaRequest, WaitTaskRequest,
};
use nomad_plugin_sdk::config::msgpack;
use nomad_plugin_sdk::config::schema::Spec;
use nomad_plugin_testkit::hcl;
use nomad_plugin_testkit::launch::{Launcher, RunningPlugin, StderrLine};
use serde_json::Value as Json;

/// Generous: the CI machine is small and busy.
const LONG: Duration = Duration::from_secs(120);

/// The log line rsexec writes in `set_config` with the decoded fields.
const CONFIG_LOG: &str = "agent config applied";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A short task: exercises a list (args, with a space inside one), a map
/// (env, next to Nomad's own variables), and the optional `cwd`.
fn short_task(cwd: &Path) -> String {
    format!(
        r#"command = "/bin/sh"
args    = ["-c", "echo \"$GREETING\" \"$1\" \"$2\" \"$OTHER\"; pwd; exit 3", "sh", "a b", "c"]
cwd     = "{}"
env     = {{ GREETING = "hello", OTHER = "x=y" }}
"#,
        cwd.display()
    )
}

/// A long task that traps SIGTERM (exit 42) and says when the trap is set;
/// `cwd` and `env` are left out (nulls on the wire).
const LONG_TASK: &str = r#"command = "/bin/sh"
args    = ["-c", "trap 'echo got TERM; exit 42' TERM; echo ready; sleep 600 & wait $!"]
"#;

struct Fixture {
    dir: PathBuf,
    agent: String,
    short: String,
}

impl Fixture {
    fn new(name: &str, agent: impl FnOnce(&Path) -> String) -> Fixture {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("interop-driver-host")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["state", "cwd", "allocs-go", "allocs-rs"] {
            std::fs::create_dir_all(dir.join(d)).expect("fixture dir");
        }
        let agent = agent(&dir);
        let short = short_task(&dir.join("cwd"));
        std::fs::write(dir.join("agent.hcl"), &agent).expect("write agent.hcl");
        std::fs::write(dir.join("short.hcl"), &short).expect("write short.hcl");
        std::fs::write(dir.join("long.hcl"), LONG_TASK).expect("write long.hcl");
        Fixture { dir, agent, short }
    }
}

/// Runs driver-host on the fixture and returns its JSON report.
async fn go_run(fx: &Fixture, stop_signal: &str) -> Json {
    let host = support::go_host("driver-host");
    let rsexec = support::bin("driver-rsexec", "rsexec");
    let mut cmd = tokio::process::Command::new(host);
    cmd.arg("-plugin")
        .arg(&rsexec)
        .args(["-name", "rsexec", "-ready", "ready", "-stop-timeout", "60s"])
        .arg(format!("-stop-signal={stop_signal}"))
        .arg("-agent")
        .arg(fx.dir.join("agent.hcl"))
        .arg("-short")
        .arg(fx.dir.join("short.hcl"))
        .arg("-long")
        .arg(fx.dir.join("long.hcl"))
        .arg("-dir")
        .arg(fx.dir.join("allocs-go"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("driver-host finished within 5 minutes")
        .expect("run driver-host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "driver-host printed no JSON report ({e}): {}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert!(
        out.status.success() && report.get("error").is_none(),
        "driver-host failed: {report:#}\nstderr:\n{stderr}"
    );
    report
}

/// The plugin's `agent config applied` fields, as a map of strings.
fn config_fields(fields: &serde_json::Map<String, Json>) -> Vec<(String, Json)> {
    ["state_dir", "default_signal"]
        .into_iter()
        .map(|k| (k.to_string(), fields.get(k).cloned().unwrap_or(Json::Null)))
        .collect()
}

fn go_config_log(report: &Json) -> Vec<(String, Json)> {
    let logs = report["plugin_logs"].as_array().expect("plugin_logs");
    let entry = logs
        .iter()
        .find(|l| l["message"] == CONFIG_LOG)
        .unwrap_or_else(|| panic!("the Go host saw no {CONFIG_LOG:?} line: {logs:#?}"));
    config_fields(entry["fields"].as_object().expect("fields"))
}

struct Testkit {
    plugin: RunningPlugin,
    agent_spec: Spec,
    task_spec: Spec,
}

async fn testkit_launch() -> Testkit {
    let rsexec = support::bin("driver-rsexec", "rsexec");
    let plugin = Launcher::nomad(rsexec)
        .null_stdin()
        .start_timeout(LONG)
        .launch()
        .await
        .expect("launch rsexec");
    let mut base = BasePluginClient::new(plugin.channel());
    let schema = base
        .config_schema(ConfigSchemaRequest {})
        .await
        .expect("ConfigSchema")
        .into_inner()
        .spec
        .expect("an agent config spec");
    let mut driver = DriverClient::new(plugin.channel());
    let tschema = driver
        .task_config_schema(TaskConfigSchemaRequest {})
        .await
        .expect("TaskConfigSchema")
        .into_inner()
        .spec
        .expect("a task config spec");
    Testkit {
        plugin,
        agent_spec: nomad_plugin_sdk::host::schema::from_proto(&schema)
            .expect("agent spec converts"),
        task_spec: nomad_plugin_sdk::host::schema::from_proto(&tschema)
            .expect("task spec converts"),
    }
}

/// Configures the testkit-launched plugin with our encoding of the agent
/// HCL and returns the fields it logged.
async fn testkit_set_config(tk: &Testkit, bytes: Vec<u8>) -> Vec<(String, Json)> {
    let mut base = BasePluginClient::new(tk.plugin.channel());
    base.set_config(SetConfigRequest {
        msgpack_config: bytes,
        nomad_config: Some(NomadConfig {
            driver: Some(NomadDriverConfig {
                client_min_port: 14000,
                client_max_port: 14512,
                ..NomadDriverConfig::default()
            }),
        }),
        plugin_api_version: "v0.1.0".into(),
    })
    .await
    .expect("SetConfig with the testkit's bytes");
    let line = tk
        .plugin
        .wait_for_log(
            LONG,
            |l| matches!(l, StderrLine::Log(e) if e.message == CONFIG_LOG),
        )
        .await
        .unwrap_or_else(|| panic!("no {CONFIG_LOG:?} line: {:#?}", tk.plugin.logs()));
    let StderrLine::Log(entry) = line else {
        unreachable!()
    };
    let fields: serde_json::Map<String, Json> = entry.fields.into_iter().collect();
    config_fields(&fields)
}

/// Runs the short task on the testkit-launched plugin with our bytes and
/// returns (exit code, stdout).
async fn testkit_short_task(tk: &Testkit, fx: &Fixture, config: Vec<u8>) -> (i32, String) {
    let alloc_id = "6d1f0a52-8f0e-4c53-9a51-0c8e1a0f2b7d";
    let alloc_dir = fx.dir.join("allocs-rs").join(alloc_id);
    let logs = alloc_dir.join("alloc/logs");
    std::fs::create_dir_all(&logs).expect("alloc dir");
    std::fs::create_dir_all(alloc_dir.join("short/local")).expect("task dir");
    let stdout = logs.join("short.stdout.0");
    let stderr = logs.join("short.stderr.0");
    std::fs::write(&stdout, b"").expect("stdout file");
    std::fs::write(&stderr, b"").expect("stderr file");
    let id = format!("{alloc_id}/short/0a1b2c3d");
    let mut driver = DriverClient::new(tk.plugin.channel());
    driver
        .start_task(StartTaskRequest {
            task: Some(TaskConfig {
                id: id.clone(),
                name: "short".into(),
                msgpack_driver_config: config,
                alloc_dir: alloc_dir.display().to_string(),
                stdout_path: stdout.display().to_string(),
                stderr_path: stderr.display().to_string(),
                alloc_id: alloc_id.into(),
                task_group_name: "group".into(),
                job_name: "interop".into(),
                ..TaskConfig::default()
            }),
        })
        .await
        .expect("StartTask");
    let res = tokio::time::timeout(
        LONG,
        driver.wait_task(WaitTaskRequest {
            task_id: id.clone(),
        }),
    )
    .await
    .expect("WaitTask answered")
    .expect("WaitTask")
    .into_inner();
    driver
        .destroy_task(DestroyTaskRequest {
            task_id: id,
            force: true,
        })
        .await
        .expect("DestroyTask");
    let code = res.result.map(|r| r.exit_code).unwrap_or(-1);
    let out = std::fs::read_to_string(&stdout).expect("read stdout");
    (code, out)
}

/// The whole comparison for one agent config; returns the Go report.
async fn same_config_both_ways(fx: &Fixture, stop_signal: &str) -> Json {
    let report = go_run(fx, stop_signal).await;
    assert_eq!(report["plugin_type"], "DRIVER", "{report:#}");
    assert_eq!(report["plugin_name"], "rsexec", "{report:#}");
    assert_eq!(report["set_config"], "ok", "{report:#}");

    let tk = testkit_launch().await;

    // The same HCL gives the same bytes: hcldec + go-cty against the
    // testkit's decoder and encoder, each with the schema the plugin sent.
    let agent = hcl::decode_plugin_config(&fx.agent, "rsexec", &tk.agent_spec)
        .unwrap_or_else(|e| panic!("testkit rejected the agent HCL: {e}"));
    let agent_bytes = msgpack::to_msgpack(&agent).expect("encode agent config");
    assert_eq!(
        hex(&agent_bytes),
        report["agent_config_hex"].as_str().expect("hex"),
        "agent config bytes differ\nHCL:\n{}",
        fx.agent
    );
    let short = hcl::encode_config(&fx.short, &tk.task_spec)
        .unwrap_or_else(|e| panic!("testkit rejected the short task HCL: {e}"));
    assert_eq!(
        hex(&short),
        report["short"]["config_hex"].as_str().expect("hex"),
        "short task config bytes differ\nHCL:\n{}",
        fx.short
    );
    let long = hcl::encode_config(LONG_TASK, &tk.task_spec)
        .unwrap_or_else(|e| panic!("testkit rejected the long task HCL: {e}"));
    assert_eq!(
        hex(&long),
        report["long"]["config_hex"].as_str().expect("hex"),
        "long task config bytes differ\nHCL:\n{LONG_TASK}"
    );

    // The plugin sees the same values either way: what it logged while the
    // Go host configured it equals what it logs for the testkit's bytes.
    let seen_go = go_config_log(&report);
    let seen_rs = testkit_set_config(&tk, agent_bytes).await;
    assert_eq!(
        seen_go, seen_rs,
        "the plugin decoded different agent configs"
    );

    // And the same task config runs the same way.
    let (code, out) = testkit_short_task(&tk, fx, short).await;
    assert_eq!(code, 3, "{out}");
    assert_eq!(
        out,
        report["short"]["stdout"].as_str().expect("stdout"),
        "the short task printed something else when configured by the testkit"
    );
    tk.plugin.kill().await.expect("kill rsexec");
    report
}

fn assert_tasks(report: &Json, fx: &Fixture) {
    let short = &report["short"];
    assert_eq!(short["start"], "SUCCESS", "{report:#}");
    assert_eq!(short["handle_id"], short["id"], "{report:#}");
    assert_eq!(short["exit_code"], 3, "{report:#}");
    assert_eq!(short["signal"], 0, "{report:#}");
    assert_eq!(
        short["stdout"],
        format!("hello a b c x=y\n{}\n", fx.dir.join("cwd").display()),
        "{report:#}"
    );
    assert_eq!(short["destroy"], "ok", "{report:#}");

    // Stopped with SIGTERM while a WaitTask was pending: the trap ran and
    // its exit code is what WaitTask reports.
    let long = &report["long"];
    assert_eq!(long["start"], "SUCCESS", "{report:#}");
    assert_eq!(long["stop"], "ok", "{report:#}");
    assert_eq!(long["exit_code"], 42, "{report:#}");
    assert_eq!(long["signal"], 0, "{report:#}");
    assert_eq!(long["wait_err"], "", "{report:#}");
    assert_eq!(long["stdout"], "ready\ngot TERM\n", "{report:#}");
    assert_eq!(long["destroy"], "ok", "{report:#}");
}

/// `state_dir` set, `default_signal` left to its default; StopTask names
/// SIGTERM itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_host_and_testkit_configure_rsexec_alike_with_defaults() {
    let fx = Fixture::new("defaults", |dir| {
        format!(
            "plugin \"rsexec\" {{\n  config {{\n    state_dir = \"{}\"\n  }}\n}}\n",
            dir.join("state").display()
        )
    });
    let report = same_config_both_ways(&fx, "SIGTERM").await;
    let seen = go_config_log(&report);
    assert_eq!(
        seen,
        vec![
            (
                "state_dir".into(),
                Json::String(format!(
                    "Some({:?})",
                    fx.dir.join("state").display().to_string()
                ))
            ),
            ("default_signal".into(), Json::String("SIGINT".into())),
        ]
    );
    assert_tasks(&report, &fx);
}

/// No `state_dir` (null on the wire), `default_signal = "SIGTERM"`; StopTask
/// names no signal, so the long task only gets SIGTERM (and exits through
/// its trap) if the plugin really holds the agent's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_host_and_testkit_configure_rsexec_alike_with_a_set_default() {
    let fx = Fixture::new("set-default", |_| {
        "plugin \"other\" {\n  config {\n    x = 1\n  }\n}\n\nplugin \"rsexec\" {\n  config {\n    default_signal = \"SIGTERM\"\n  }\n}\n".to_string()
    });
    let report = same_config_both_ways(&fx, "").await;
    let seen = go_config_log(&report);
    assert_eq!(
        seen,
        vec![
            ("state_dir".into(), Json::String("None".into())),
            ("default_signal".into(), Json::String("SIGTERM".into())),
        ]
    );
    assert_tasks(&report, &fx);
}

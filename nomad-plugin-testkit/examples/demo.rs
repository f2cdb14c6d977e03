//! `cargo xtask demo`: drive a task driver plugin through the testkit
//! exactly as a Nomad client would, printing each step.
//!
//! Usage: `demo PLUGIN_BINARY AGENT_HCL TASK_HCL`

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use nomad_plugin_proto::nomad::base::{self as basepb, base_plugin_client::BasePluginClient};
use nomad_plugin_proto::nomad::drivers::{self as pb, driver_client::DriverClient};
use nomad_plugin_testkit::launch::{Launcher, StderrLine, NOMAD_COOKIE};
use tokio::io::AsyncBufReadExt;

fn step(n: u32, what: &str) {
    println!("\n[{n}] {what}");
}

fn mkfifo(path: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error()).context("mkfifo");
    }
    Ok(())
}

/// Reads a log FIFO as Nomad's log collector would, printing each line.
///
/// The FIFO is read through tokio's pipe type, which polls the descriptor on
/// the reactor: a blocking read (as `tokio::fs` does on its blocking pool)
/// could not be aborted and would keep the runtime from shutting down. It is
/// opened read-write so that it stays open between writers, as Nomad's
/// logmon keeps it; the task is aborted once the task has been destroyed.
fn collect(path: PathBuf, label: &'static str) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(pipe) = tokio::net::unix::pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&path)
        else {
            return;
        };
        let mut lines = tokio::io::BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            println!("    task {label}: {line}");
        }
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [binary, agent_hcl, task_hcl] = args.as_slice() else {
        bail!("usage: demo PLUGIN_BINARY AGENT_HCL TASK_HCL");
    };
    let agent_src = std::fs::read_to_string(agent_hcl).with_context(|| agent_hcl.clone())?;
    let task_src = std::fs::read_to_string(task_hcl).with_context(|| task_hcl.clone())?;

    step(
        1,
        "Launch the plugin as a Nomad agent does (go-plugin handshake)",
    );
    println!(
        "    {binary} with {}=<cookie> PLUGIN_PROTOCOL_VERSIONS=2 PLUGIN_MIN_PORT=10000 PLUGIN_MAX_PORT=25000",
        NOMAD_COOKIE.0
    );
    let plugin = Launcher::nomad(binary).null_stdin().launch().await?;
    let t = plugin.timings();
    println!(
        "    handshake {:?} after {:?}; first RPC answered after {:?}",
        plugin.address().endpoint,
        t.handshake,
        t.healthy
    );

    step(
        2,
        "PluginInfo and ConfigSchema, then SetConfig from the agent's HCL",
    );
    let mut base = BasePluginClient::new(plugin.channel());
    let info = base
        .plugin_info(basepb::PluginInfoRequest {})
        .await?
        .into_inner();
    println!(
        "    {} plugin {:?} version {} (API {:?})",
        if info.r#type == basepb::PluginType::Driver as i32 {
            "driver"
        } else {
            "non-driver"
        },
        info.name,
        info.plugin_version,
        info.plugin_api_versions
    );
    let spec = base
        .config_schema(basepb::ConfigSchemaRequest {})
        .await?
        .into_inner()
        .spec
        .context("the plugin has no agent config schema")?;
    let spec = nomad_plugin_sdk::host::schema::from_proto(&spec)?;
    let value = nomad_plugin_testkit::hcl::decode_plugin_config(&agent_src, &info.name, &spec)
        .map_err(|d| anyhow::anyhow!("{d}"))?;
    println!("    {agent_hcl} decodes to {}", value.describe());
    base.set_config(basepb::SetConfigRequest {
        msgpack_config: nomad_plugin_sdk::config::msgpack::to_msgpack(&value)?,
        nomad_config: Some(basepb::NomadConfig {
            driver: Some(basepb::NomadDriverConfig {
                client_max_port: 14512,
                client_min_port: 14000,
                topology: None,
            }),
        }),
        plugin_api_version: "v0.1.0".into(),
    })
    .await?;
    println!("    SetConfig accepted");

    let mut driver = DriverClient::new(plugin.channel());
    step(3, "Fingerprint (a stream Nomad keeps open)");
    let mut fp = driver
        .fingerprint(pb::FingerprintRequest {})
        .await?
        .into_inner();
    let first = fp.message().await?.context("fingerprint stream ended")?;
    println!(
        "    health {:?}: {:?}; attributes {:?}",
        pb::fingerprint_response::HealthState::try_from(first.health).ok(),
        first.health_description,
        first.attributes.keys().collect::<Vec<_>>()
    );

    step(
        4,
        "Start a task from a job's task config (HCL, encoded with TaskConfigSchema)",
    );
    let tspec = driver
        .task_config_schema(pb::TaskConfigSchemaRequest {})
        .await?
        .into_inner()
        .spec
        .context("no task schema")?;
    let tspec = nomad_plugin_sdk::host::schema::from_proto(&tspec)?;
    let msgpack = nomad_plugin_testkit::hcl::encode_config(&task_src, &tspec)
        .map_err(|d| anyhow::anyhow!("{d}"))?;
    let alloc_dir = std::env::temp_dir().join(format!("nomad-demo-{}", std::process::id()));
    let logs = alloc_dir.join("alloc/logs");
    std::fs::create_dir_all(&logs)?;
    std::fs::create_dir_all(alloc_dir.join("web/local"))?;
    let (out, err) = (logs.join(".web.stdout.fifo"), logs.join(".web.stderr.fifo"));
    mkfifo(&out)?;
    mkfifo(&err)?;
    let collectors = [
        collect(out.clone(), "stdout"),
        collect(err.clone(), "stderr"),
    ];
    let task_id = "5f1c0a2e-demo/web/0a1b2c3d".to_string();
    let config = pb::TaskConfig {
        id: task_id.clone(),
        name: "web".into(),
        msgpack_driver_config: msgpack,
        env: [
            ("NOMAD_TASK_NAME", "web"),
            ("NOMAD_ALLOC_ID", "5f1c0a2e-demo"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        alloc_dir: alloc_dir.display().to_string(),
        stdout_path: out.display().to_string(),
        stderr_path: err.display().to_string(),
        alloc_id: "5f1c0a2e-demo".into(),
        task_group_name: "demo".into(),
        job_name: "demo".into(),
        ..Default::default()
    };
    let started = Instant::now();
    let resp = driver
        .start_task(pb::StartTaskRequest { task: Some(config) })
        .await?
        .into_inner();
    let handle = resp.handle.context("no task handle")?;
    println!(
        "    started in {:?}; handle v{} with {} bytes of driver state",
        started.elapsed(),
        handle.version,
        handle.driver_state.len()
    );

    step(
        5,
        "Stream its output (Nomad's log FIFOs) and its resource usage",
    );
    let mut stats = driver
        .task_stats(pb::TaskStatsRequest {
            task_id: task_id.clone(),
            collection_interval: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
        })
        .await?
        .into_inner();
    for _ in 0..2 {
        let s = stats.message().await?.context("stats ended")?;
        let agg = s
            .stats
            .and_then(|s| s.agg_resource_usage)
            .unwrap_or_default();
        println!(
            "    stats: cpu {:.1}%, rss {} KiB",
            agg.cpu.map(|c| c.percent).unwrap_or(0.0),
            agg.memory.map(|m| m.rss).unwrap_or(0) / 1024
        );
    }
    drop(stats);

    step(6, "Exec into the task (as a script check would)");
    let exec = driver
        .exec_task(pb::ExecTaskRequest {
            task_id: task_id.clone(),
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo \"$GREETING from $(pwd)\"".into(),
            ],
            timeout: Some(prost_types::Duration {
                seconds: 30,
                nanos: 0,
            }),
        })
        .await?
        .into_inner();
    println!(
        "    exit {} output {:?}",
        exec.result.map(|r| r.exit_code).unwrap_or(-1),
        String::from_utf8_lossy(&exec.stdout)
    );

    step(
        7,
        "Stop it (kill_signal SIGTERM, kill_timeout 5s) and wait for its exit",
    );
    driver
        .stop_task(pb::StopTaskRequest {
            task_id: task_id.clone(),
            timeout: Some(prost_types::Duration {
                seconds: 5,
                nanos: 0,
            }),
            signal: "SIGTERM".into(),
        })
        .await?;
    let wait = driver
        .wait_task(pb::WaitTaskRequest {
            task_id: task_id.clone(),
        })
        .await?
        .into_inner();
    let r = wait.result.unwrap_or_default();
    println!(
        "    exited with code {} signal {} {}",
        r.exit_code, r.signal, wait.err
    );
    driver
        .destroy_task(pb::DestroyTaskRequest {
            task_id: task_id.clone(),
            force: true,
        })
        .await?;
    for c in collectors {
        c.abort();
        // An aborted reader ends at its next poll; wait for it so nothing of
        // the task outlives this step.
        let _ = c.await;
    }

    step(
        8,
        "The plugin's own log lines, as the agent's log would show them",
    );
    for line in plugin.logs() {
        if let StderrLine::Log(e) = line {
            println!(
                "    [{}] {} {}",
                e.level
                    .map(|l| format!("{l:?}").to_lowercase())
                    .unwrap_or_default(),
                e.message,
                serde_json::to_string(&e.fields)?
            );
        }
    }

    step(
        9,
        "Stop the plugin as Nomad does (Controller.Shutdown, SIGKILL after 2 s)",
    );
    drop(fp);
    let report = plugin.kill().await?;
    println!(
        "    exited {} after {:?} ({})",
        report.status,
        report.elapsed,
        if report.graceful {
            "by itself"
        } else {
            "only after SIGKILL"
        }
    );
    let _ = std::fs::remove_dir_all(&alloc_dir);
    if !report.graceful {
        bail!("the plugin did not stop within the 2 s Nomad allows");
    }
    println!("\ndemo finished");
    Ok(())
}

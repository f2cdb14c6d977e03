//! `cargo xtask demo`: drive a task driver plugin through the testkit's
//! driver harness exactly as a Nomad client would, printing each step.
//!
//! Usage: `demo PLUGIN_BINARY AGENT_HCL TASK_HCL`

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nomad_plugin_testkit::driver::DriverHarness;
use nomad_plugin_testkit::launch::{StderrLine, NOMAD_COOKIE};

fn step(n: u32, what: &str) {
    println!("\n[{n}] {what}");
}

fn print_lines(label: &str, text: &str) {
    for line in text.lines() {
        println!("    task {label}: {line}");
    }
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
        "Launch the plugin as a Nomad agent does: PluginInfo and ConfigSchema, SetConfig twice to validate, then the real instance",
    );
    println!(
        "    {binary} with {}=<cookie> PLUGIN_PROTOCOL_VERSIONS=2 PLUGIN_MIN_PORT=10000 PLUGIN_MAX_PORT=25000",
        NOMAD_COOKIE.0
    );
    let started = Instant::now();
    let harness = DriverHarness::builder(binary)
        .agent_hcl(agent_src)
        .launch()
        .await?;
    let reattach = harness
        .reattach_config()
        .context("the plugin is not running")?;
    println!(
        "    three launches in {:?}; the instance listens at {:?} (pid {})",
        started.elapsed(),
        reattach.address.endpoint,
        reattach.pid
    );

    step(2, "What the plugin is, and the agent's HCL it accepted");
    let info = harness.info();
    println!(
        "    driver {:?} version {} (API {}); {agent_hcl} decoded with its ConfigSchema and accepted by SetConfig",
        info.name, info.version, info.api_version
    );
    let caps = harness.capabilities();
    println!(
        "    capabilities: signals {}, exec {}, filesystem isolation {:?}",
        caps.send_signals, caps.exec, caps.fs_isolation
    );

    step(3, "Fingerprint (a stream Nomad keeps open)");
    let fp = harness.fingerprint().await?;
    println!(
        "    health {:?}: {:?}; attributes {}",
        fp.health,
        fp.health_description,
        fp.attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    step(
        4,
        "Start a task from a job's task config (HCL, encoded with TaskConfigSchema) in an alloc dir with log FIFOs",
    );
    let started = Instant::now();
    let task = harness.task("web").config_hcl(task_src).start().await?;
    println!(
        "    started {} in {:?}; Nomad keeps a handle with {} bytes of driver state",
        task.id(),
        started.elapsed(),
        task.driver_state().len()
    );
    task.wait_for_stdout("tick 1").await?;
    print_lines("stdout", &task.stdout());

    step(5, "Stream its resource usage");
    let mut stats = harness.stats(&task, Duration::from_secs(1)).await?;
    for _ in 0..2 {
        let s = stats.next().await?;
        println!(
            "    stats: cpu {:.1}%, rss {} KiB",
            s.cpu.map(|c| c.percent).unwrap_or(0.0),
            s.memory.map(|m| m.rss).unwrap_or(0) / 1024
        );
    }
    drop(stats);

    step(6, "Exec into the task (as a script check would)");
    let out = harness
        .exec(
            &task,
            ["/bin/sh", "-c", "echo \"$GREETING from $(pwd)\""],
            Duration::from_secs(30),
        )
        .await?;
    println!("    exit {} output {:?}", out.exit_code, out.stdout_text());

    step(
        7,
        "Stop it (kill_signal SIGTERM, kill_timeout 5s) and wait for its exit",
    );
    let before = task.stdout().len();
    harness
        .stop(&task, "SIGTERM", Duration::from_secs(5))
        .await?;
    let exit = harness.wait(&task).await?;
    println!("    exited: {exit}");
    print_lines("stdout", task.stdout().get(before..).unwrap_or_default());
    harness.destroy(&task).await?;
    drop(task);

    step(
        8,
        "The plugin's own log lines, as the agent's log would show them",
    );
    for line in harness.plugin_logs() {
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
    let started = Instant::now();
    harness
        .shutdown()
        .await
        .context("the plugin did not stop within the 2 s Nomad allows")?;
    println!("    exited by itself after {:?}", started.elapsed());
    println!("\ndemo finished");
    Ok(())
}

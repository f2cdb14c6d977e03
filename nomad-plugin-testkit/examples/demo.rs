//! `cargo xtask demo`: drive a plugin binary through the testkit exactly as a
//! Nomad client would, printing each step.
//!
//! Usage: `demo PLUGIN_BINARY`

use std::time::{Duration, Instant};

use nomad_plugin_proto::go_plugin::stdio_data::Channel;
use nomad_plugin_testkit::launch::{Launcher, StderrLine, NOMAD_COOKIE};

fn step(n: u32, what: &str) {
    println!("\n[{n}] {what}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(binary) = std::env::args().nth(1) else {
        anyhow::bail!("usage: demo PLUGIN_BINARY");
    };

    step(1, "Launch the plugin as a Nomad agent does");
    println!("    binary: {binary}");
    println!(
        "    env: host environment + {}=<cookie> PLUGIN_MIN_PORT=10000 PLUGIN_MAX_PORT=25000 PLUGIN_PROTOCOL_VERSIONS=2",
        NOMAD_COOKIE.0
    );
    let started = Instant::now();
    let plugin = Launcher::nomad(&binary).null_stdin().launch().await?;
    let addr = plugin.address();
    println!(
        "    handshake: core 1, protocol {}, {:?} (connected and healthy after {:?})",
        addr.protocol_version,
        addr.endpoint,
        started.elapsed()
    );

    step(
        2,
        "Read the plugin's logs as go-plugin does (hclog JSON on stderr)",
    );
    plugin
        .wait_for_log(
            Duration::from_secs(10),
            |l| matches!(l, StderrLine::Log(e) if e.message == "plugin serving"),
        )
        .await;
    for line in plugin.logs() {
        match line {
            StderrLine::Log(e) => println!(
                "    {:<5} {} {}",
                e.level
                    .map(|l| format!("{l:?}").to_lowercase())
                    .unwrap_or_default(),
                e.message,
                serde_json::to_string(&e.fields)?
            ),
            StderrLine::Raw(s) => println!("    (raw) {s}"),
            StderrLine::Invalid { line, problem } => {
                println!("    INVALID {line}: {problem}")
            }
        }
    }

    step(
        3,
        "Receive what the plugin printed after the handshake (plugin.GRPCStdio)",
    );
    plugin
        .wait_for_stdio(Channel::Stdout, b"\n", Duration::from_secs(10))
        .await;
    println!(
        "    stdout: {:?}",
        String::from_utf8_lossy(&plugin.stdio_output(Channel::Stdout))
    );
    println!(
        "    stderr: {:?}",
        String::from_utf8_lossy(&plugin.stdio_output(Channel::Stderr))
    );

    step(
        4,
        "Stop it as Nomad does (Controller.Shutdown, SIGKILL after 2 s)",
    );
    let report = plugin.kill().await?;
    println!(
        "    exited {} in {:?} ({})",
        report.status,
        report.elapsed,
        if report.graceful {
            "by itself"
        } else {
            "only after SIGKILL"
        }
    );
    if !report.graceful {
        anyhow::bail!("the plugin did not stop within the 2 s Nomad allows");
    }
    println!("\ndemo finished");
    Ok(())
}

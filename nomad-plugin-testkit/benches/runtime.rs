//! Runtime benchmark: spawn-to-handshake, spawn-to-first-RPC and idle RSS of
//! a minimal plugin, for the SDK's runtime and for go-plugin v1.8.0, measured
//! side by side in one run. Not a test: it prints figures.
//!
//! Run with `cargo xtask bench`, which builds both probes in release mode
//! and passes their paths in `BENCH_RUST_PLUGIN` and `BENCH_GO_PLUGIN`.

use std::path::PathBuf;
use std::time::Duration;

use nomad_plugin_testkit::launch::Launcher;

struct Figures {
    handshake: Vec<Duration>,
    first_rpc: Vec<Duration>,
    rss: Vec<u64>,
    pss: Vec<u64>,
    anon: Vec<u64>,
    size: u64,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// How a measured program is stopped after each launch.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    /// As Nomad stops a plugin: `GRPCController.Shutdown`, SIGKILL after 2 s.
    Nomad,
    /// SIGTERM: the floor answers every RPC alike and cannot tell a
    /// Shutdown from any other call.
    Term,
}

async fn measure(binary: &PathBuf, runs: usize, stop: Stop) -> anyhow::Result<Figures> {
    let mut f = Figures {
        handshake: Vec::new(),
        first_rpc: Vec::new(),
        rss: Vec::new(),
        pss: Vec::new(),
        anon: Vec::new(),
        size: std::fs::metadata(binary)?.len(),
    };
    for _ in 0..runs {
        let mut plugin = Launcher::nomad(binary).null_stdin().launch().await?;
        let t = plugin.timings();
        f.handshake.push(t.handshake);
        f.first_rpc.push(t.healthy);
        if let Some(m) = plugin.memory() {
            f.rss.push(m.rss);
            f.pss.push(m.pss);
            f.anon.push(m.anonymous);
        }
        match stop {
            Stop::Nomad => {
                let report = plugin.kill().await?;
                anyhow::ensure!(report.graceful, "{} needed SIGKILL", binary.display());
            }
            Stop::Term => {
                plugin.signal(libc::SIGTERM)?;
                let status = plugin.wait_exit(Duration::from_secs(10)).await;
                anyhow::ensure!(status.is_some(), "{} ignored SIGTERM", binary.display());
            }
        }
    }
    f.handshake.sort();
    f.first_rpc.sort();
    f.rss.sort();
    f.pss.sort();
    f.anon.sort();
    Ok(f)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench targets without `--bench`: this
    // is a measurement, not a test, so do nothing there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("runtime bench: run it with `cargo xtask bench`");
        return Ok(());
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let rust = std::env::var_os("BENCH_RUST_PLUGIN").map(PathBuf::from);
    let go = std::env::var_os("BENCH_GO_PLUGIN").map(PathBuf::from);
    let Some(rust) = rust else {
        anyhow::bail!("set BENCH_RUST_PLUGIN (cargo xtask bench does this)");
    };
    let floor = std::env::var_os("BENCH_FLOOR_PLUGIN").map(PathBuf::from);
    let mut rows = vec![(
        "Rust (nomad-plugin-sdk)",
        measure(&rust, runs, Stop::Nomad).await?,
    )];
    if let Some(go) = go {
        rows.push((
            "Go (go-plugin v1.8.0)",
            measure(&go, runs, Stop::Nomad).await?,
        ));
    }
    if let Some(floor) = floor {
        rows.push((
            "floor (static C, benches/floor)",
            measure(&floor, runs, Stop::Term).await?,
        ));
    }
    println!("minimal plugin, {runs} launches each, through the testkit launcher (Unix socket)\n");
    println!(
        "| plugin | spawn→handshake min / median / p99 | spawn→first RPC min / median / p99 | idle RSS / PSS / anonymous (medians) | binary size |"
    );
    println!("|---|---|---|---|---|");
    for (name, f) in &rows {
        let med = |v: &[u64]| v.get(v.len() / 2).copied().unwrap_or(0) as f64 / (1024.0 * 1024.0);
        println!(
            "| {name} | {} / {} / {} | {} / {} / {} | {:.1} / {:.1} / {:.2} MiB | {:.1} MiB |",
            ms(f.handshake[0]),
            ms(pct(&f.handshake, 0.5)),
            ms(pct(&f.handshake, 0.99)),
            ms(f.first_rpc[0]),
            ms(pct(&f.first_rpc, 0.5)),
            ms(pct(&f.first_rpc, 0.99)),
            med(&f.rss),
            med(&f.pss),
            med(&f.anon),
            f.size as f64 / (1024.0 * 1024.0),
        );
    }
    // Ratios of the SDK's figures to each other row (Go, then the floor):
    // below 1 is better than that row, and against the floor it says how
    // much room is left.
    let r = &rows[0].1;
    for (name, other) in rows.iter().skip(1) {
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        let mid = |v: &[u64]| v.get(v.len() / 2).copied().unwrap_or(0) as f64;
        println!(
            "\nRust / {name}: handshake median {:.2}, first RPC median {:.2}, idle RSS {:.2}, \
             PSS {:.2}, anonymous {:.2}, size {:.2}",
            ratio(pct(&r.handshake, 0.5), pct(&other.handshake, 0.5)),
            ratio(pct(&r.first_rpc, 0.5), pct(&other.first_rpc, 0.5)),
            mid(&r.rss) / mid(&other.rss),
            mid(&r.pss) / mid(&other.pss),
            mid(&r.anon) / mid(&other.anon),
            r.size as f64 / other.size as f64,
        );
    }
    Ok(())
}

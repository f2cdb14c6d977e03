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

async fn measure(binary: &PathBuf, runs: usize) -> anyhow::Result<Figures> {
    let mut f = Figures {
        handshake: Vec::new(),
        first_rpc: Vec::new(),
        rss: Vec::new(),
        pss: Vec::new(),
        anon: Vec::new(),
        size: std::fs::metadata(binary)?.len(),
    };
    for _ in 0..runs {
        let plugin = Launcher::nomad(binary).null_stdin().launch().await?;
        let t = plugin.timings();
        f.handshake.push(t.handshake);
        f.first_rpc.push(t.healthy);
        if let Some(m) = plugin.memory() {
            f.rss.push(m.rss);
            f.pss.push(m.pss);
            f.anon.push(m.anonymous);
        }
        let report = plugin.kill().await?;
        anyhow::ensure!(report.graceful, "{} needed SIGKILL", binary.display());
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
    let mut rows = vec![("Rust (nomad-plugin-sdk)", measure(&rust, runs).await?)];
    if let Some(go) = go {
        rows.push(("Go (go-plugin v1.8.0)", measure(&go, runs).await?));
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
    if rows.len() == 2 {
        let (r, g) = (&rows[0].1, &rows[1].1);
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "\nRust/Go: handshake median {:.2}, first RPC median {:.2}, idle RSS {:.2}, PSS {:.2}, \
             anonymous {:.2}, size {:.2}",
            ratio(pct(&r.handshake, 0.5), pct(&g.handshake, 0.5)),
            ratio(pct(&r.first_rpc, 0.5), pct(&g.first_rpc, 0.5)),
            r.rss[r.rss.len() / 2] as f64 / g.rss[g.rss.len() / 2] as f64,
            r.pss[r.pss.len() / 2] as f64 / g.pss[g.pss.len() / 2] as f64,
            r.anon[r.anon.len() / 2] as f64 / g.anon[g.anon.len() / 2] as f64,
            r.size as f64 / g.size as f64,
        );
    }
    Ok(())
}

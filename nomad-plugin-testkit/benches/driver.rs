//! Driver benchmark: the Rust reference driver (`rsexec`) against the Go
//! reference driver (`go-exec-driver`, go-plugin v1.8.0), side by side in
//! one run, through the testkit launcher and the Unix socket the Nomad
//! client uses. Not a test: it prints one Markdown table.
//!
//! Run with `cargo xtask bench`, which builds both drivers optimised and
//! passes their paths in `BENCH_RUST_DRIVER` and `BENCH_GO_DRIVER`.
//!
//! Sizes (environment variables, defaults in brackets):
//! `BENCH_LAUNCHES` [50] launches for spawn→handshake,
//! `BENCH_TASKS` [1000] `sleep` tasks held at once,
//! `BENCH_RPC_SECS` [3] seconds per InspectTask rate measurement,
//! `BENCH_WAITS` [30] WaitTask wake-ups,
//! `BENCH_STOPS` [30] StopTask round trips,
//! `BENCH_EXEC_MB` [64] MiB written to stdout by the exec session,
//! `BENCH_STATS_TASKS` [all started tasks] TaskStats streams,
//! `BENCH_STATS_SECS` [10] CPU sampling window for the stats streams.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::channel::mpsc;
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::exec_task_streaming_request::Setup;
use nomad_plugin_proto::nomad::drivers::{
    ExecTaskStreamingIoOperation, ExecTaskStreamingRequest, InspectTaskRequest, StopTaskRequest,
    TaskStatsRequest, WaitTaskRequest,
};
use nomad_plugin_testkit::launch::Launcher;

// Each bench uses a part of the shared code.
#[allow(dead_code)]
mod support;
use support::{cpu_ticks, env_usize, pct, ticks_per_sec, Bench};

/// Everything measured for one driver.
#[derive(Default)]
struct Figures {
    handshake: Vec<Duration>,
    rss_handshake: Vec<u64>,
    rss_idle: u64,
    rss_loaded: u64,
    rss_destroyed: u64,
    tasks: usize,
    start: Vec<Duration>,
    rpc1: f64,
    rpc16: f64,
    wait: Vec<Duration>,
    stop: Vec<Duration>,
    /// Supervisor processes (the executor's, one per task) and their RSS.
    supervisors: usize,
    supervisor_rss: u64,
    exec_mbps: f64,
    stats_streams: usize,
    stats_live: usize,
    stats_msgs: u64,
    stats_cpu: f64,
    size: u64,
}

async fn spawn_handshake(binary: &Path, f: &mut Figures, launches: usize) -> anyhow::Result<()> {
    for _ in 0..launches {
        let plugin = Launcher::nomad(binary).null_stdin().launch().await?;
        f.handshake.push(plugin.timings().handshake);
        if let Some(rss) = plugin.rss_bytes() {
            f.rss_handshake.push(rss);
        }
        plugin.kill().await?;
    }
    f.handshake.sort();
    f.rss_handshake.sort();
    Ok(())
}

async fn rpc_rate(b: &Bench, id: &str, clients: usize, secs: u64) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut workers = Vec::new();
    for _ in 0..clients {
        let mut c = b.client.clone();
        let (done, id) = (done.clone(), id.to_string());
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                c.inspect_task(InspectTaskRequest {
                    task_id: id.clone(),
                })
                .await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let t0 = Instant::now();
    for w in workers {
        w.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64())
}

/// Starts a task that records its pid, parks a WaitTask on it, kills the
/// task with SIGTERM and times kill(2) → WaitTask's answer. The exit
/// itself follows kill(2) within microseconds, so this is the driver's
/// wake-up latency plus one RPC answer.
async fn wait_latency(b: &mut Bench, n: usize) -> anyhow::Result<Duration> {
    let cfg = b.task(
        n,
        "/bin/sh",
        &["-c", "echo $$ > $NOMAD_TASK_DIR/pid; exec sleep 600"],
    )?;
    let pid_file = PathBuf::from(&cfg.alloc_dir).join("bench/local/pid");
    let (id, _) = b.start(cfg).await?;
    let pid = {
        let t0 = Instant::now();
        loop {
            if let Some(p) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                break p;
            }
            anyhow::ensure!(t0.elapsed() < Duration::from_secs(10), "no pid file");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let mut c = b.client.clone();
    let wid = id.clone();
    let waiter = tokio::spawn(async move { c.wait_task(WaitTaskRequest { task_id: wid }).await });
    // Let the WaitTask call reach the plugin and park.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    // SAFETY: kill(2) on the pid our own task wrote.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let resp = waiter.await??.into_inner();
    let took = t0.elapsed();
    anyhow::ensure!(resp.err.is_empty(), "WaitTask: {}", resp.err);
    b.destroy(&id).await?;
    Ok(took)
}

/// MiB/s of stdout through one ExecTaskStreaming session running
/// `head -c <mb>M /dev/zero` inside a running task.
/// StopTask on a running `sleep` (which dies of the SIGTERM): the time
/// until StopTask answers, which includes the driver's wait for the exit
/// and, on the executor, killing what is left in the task's cgroup.
async fn stop_latency(b: &mut Bench, n: usize) -> anyhow::Result<Duration> {
    let cfg = b.task(50_000 + n, "sleep", &["600"])?;
    let (id, _) = b.start(cfg).await?;
    let t = Instant::now();
    b.client
        .stop_task(StopTaskRequest {
            task_id: id.clone(),
            timeout: Some(nomad_plugin_proto::prost_types::Duration {
                seconds: 30,
                nanos: 0,
            }),
            signal: "SIGTERM".into(),
        })
        .await
        .context("StopTask")?;
    let took = t.elapsed();
    b.destroy(&id).await?;
    Ok(took)
}

/// The executor's supervisor processes on the machine (one per task) and
/// their total RSS: the per-task cost the plugin's own RSS does not show.
fn supervisors() -> (usize, u64) {
    let mut n = 0;
    let mut rss = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if !String::from_utf8_lossy(&cmd).contains("__nomad-plugin-executor-supervise") {
            continue;
        }
        let kib = std::fs::read_to_string(e.path().join("status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        n += 1;
        rss += kib * 1024;
    }
    (n, rss)
}

async fn exec_throughput(b: &Bench, id: &str, mb: usize) -> anyhow::Result<f64> {
    let (tx, rx) = mpsc::unbounded::<ExecTaskStreamingRequest>();
    tx.unbounded_send(ExecTaskStreamingRequest {
        setup: Some(Setup {
            task_id: id.into(),
            command: vec![
                "head".into(),
                "-c".into(),
                format!("{mb}M"),
                "/dev/zero".into(),
            ],
            tty: false,
        }),
        ..Default::default()
    })?;
    tx.unbounded_send(ExecTaskStreamingRequest {
        stdin: Some(ExecTaskStreamingIoOperation {
            data: Vec::new(),
            close: true,
        }),
        ..Default::default()
    })?;
    let mut c = b.client.clone();
    let t0 = Instant::now();
    let mut stream = c.exec_task_streaming(rx).await?.into_inner();
    let mut bytes = 0u64;
    let mut exited = false;
    while let Some(m) = stream.message().await? {
        if let Some(o) = m.stdout {
            bytes += o.data.len() as u64;
        }
        if m.exited {
            exited = true;
        }
    }
    let took = t0.elapsed();
    drop(tx);
    anyhow::ensure!(exited, "exec session ended without an exit result");
    anyhow::ensure!(
        bytes == (mb as u64) << 20,
        "exec delivered {bytes} bytes, expected {}",
        (mb as u64) << 20
    );
    Ok(bytes as f64 / (1024.0 * 1024.0) / took.as_secs_f64())
}

/// Opens one TaskStats stream (1 s interval) per task, lets them settle,
/// then reads the plugin's CPU time over the window.
async fn stats_cost(b: &Bench, ids: &[String], secs: u64, f: &mut Figures) -> anyhow::Result<()> {
    let pid = b.plugin.pid().context("plugin gone")?;
    let msgs = Arc::new(AtomicU64::new(0));
    let live = Arc::new(AtomicU64::new(0));
    // A connection of its own: cancelling a thousand streams at once is
    // itself a load pattern some servers answer with GOAWAY, and that must
    // not take the benchmark's main connection down.
    let stats_client = DriverClient::new(
        nomad_plugin_testkit::launch::connect(&b.plugin.address().endpoint).await?,
    );
    let mut readers = Vec::new();
    for id in ids {
        let mut c = stats_client.clone();
        let (msgs, live, id) = (msgs.clone(), live.clone(), id.clone());
        readers.push(tokio::spawn(async move {
            let req = TaskStatsRequest {
                task_id: id,
                collection_interval: Some(nomad_plugin_proto::prost_types::Duration {
                    seconds: 1,
                    nanos: 0,
                }),
            };
            let Ok(resp) = c.task_stats(req).await else {
                return;
            };
            let mut s = resp.into_inner();
            let mut first = true;
            while let Ok(Some(_)) = s.message().await {
                if first {
                    live.fetch_add(1, Ordering::Relaxed);
                    first = false;
                }
                msgs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (c0, m0, t0) = (
        cpu_ticks(pid).context("no /proc stat")?,
        msgs.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let c1 = cpu_ticks(pid).context("no /proc stat")?;
    let wall = t0.elapsed().as_secs_f64();
    f.stats_cpu = (c1 - c0) as f64 / ticks_per_sec() / wall * 100.0;
    f.stats_msgs = msgs.load(Ordering::Relaxed) - m0;
    f.stats_live = live.load(Ordering::Relaxed) as usize;
    f.stats_streams = ids.len();
    for r in readers {
        r.abort();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut probe = stats_client.clone();
    if let Err(e) = probe
        .inspect_task(InspectTaskRequest {
            task_id: ids.first().cloned().unwrap_or_default(),
        })
        .await
    {
        eprintln!(
            "stats connection after cancelling {} streams: {e}",
            ids.len()
        );
    }
    Ok(())
}

async fn measure(name: &str, binary: &Path) -> anyhow::Result<Figures> {
    let launches = env_usize("BENCH_LAUNCHES", 50);
    let tasks = env_usize("BENCH_TASKS", 1000);
    let rpc_secs = env_usize("BENCH_RPC_SECS", 3) as u64;
    let waits = env_usize("BENCH_WAITS", 30);
    let stops = env_usize("BENCH_STOPS", 30);
    let exec_mb = env_usize("BENCH_EXEC_MB", 64);
    let stats_tasks = env_usize("BENCH_STATS_TASKS", tasks);
    let stats_secs = env_usize("BENCH_STATS_SECS", 10) as u64;

    let mut f = Figures {
        size: std::fs::metadata(binary)?.len(),
        ..Default::default()
    };
    eprintln!("[{name}] {launches} launches");
    spawn_handshake(binary, &mut f, launches).await?;

    let mut b = Bench::launch(binary).await?;
    let result = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        f.rss_idle = b.plugin.rss_bytes().unwrap_or(0);

        eprintln!("[{name}] RPC rate, WaitTask, exec");
        let cfg = b.task(0, "sleep", &["600"])?;
        let (probe, _) = b.start(cfg).await?;
        f.rpc1 = rpc_rate(&b, &probe, 1, rpc_secs).await?;
        f.rpc16 = rpc_rate(&b, &probe, 16, rpc_secs).await?;
        for i in 0..waits {
            let d = wait_latency(&mut b, 1 + i).await?;
            f.wait.push(d);
        }
        f.wait.sort();
        for i in 0..stops {
            let d = stop_latency(&mut b, i).await?;
            f.stop.push(d);
        }
        f.stop.sort();
        // Best of three sessions: the first pays for page-cache warm-up.
        for _ in 0..3 {
            let r = exec_throughput(&b, &probe, exec_mb).await?;
            f.exec_mbps = f.exec_mbps.max(r);
        }
        b.destroy(&probe).await?;

        eprintln!("[{name}] {tasks} tasks");
        let mut ids = Vec::with_capacity(tasks);
        for i in 0..tasks {
            let cfg = b.task(10_000 + i, "sleep", &["600"])?;
            let (id, took) = b.start(cfg).await?;
            f.start.push(took);
            ids.push(id);
        }
        f.start.sort();
        f.tasks = ids.len();
        tokio::time::sleep(Duration::from_millis(500)).await;
        f.rss_loaded = b.plugin.rss_bytes().unwrap_or(0);
        (f.supervisors, f.supervisor_rss) = supervisors();

        eprintln!("[{name}] TaskStats on {stats_tasks} tasks for {stats_secs}s");
        stats_cost(&b, &ids[..stats_tasks.min(ids.len())], stats_secs, &mut f).await?;

        eprintln!("[{name}] destroying");
        for id in &ids {
            b.destroy(id).await?;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        f.rss_destroyed = b.plugin.rss_bytes().unwrap_or(0);
        anyhow::Ok(())
    }
    .await;
    let left = b.reap_leftovers();
    if left > 0 {
        eprintln!("[{name}] killed {left} task processes the driver left behind");
    }
    let Bench { plugin, work, .. } = b;
    plugin.kill().await?;
    // Processes started after the last scan (none expected) go too.
    drop(work);
    result?;
    Ok(f)
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

fn per_task_kib(total: u64, base: u64, n: usize) -> String {
    if n == 0 {
        return "-".into();
    }
    format!(
        "{:.0}",
        total.saturating_sub(base) as f64 / 1024.0 / n as f64
    )
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1024.0 * 1024.0))
}

fn median_u64(v: &[u64]) -> u64 {
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench targets without `--bench`: this
    // is a measurement, not a test, so do nothing there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("driver bench: run it with `cargo xtask bench`");
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let Some(rust) = std::env::var_os("BENCH_RUST_DRIVER").map(PathBuf::from) else {
        anyhow::bail!("set BENCH_RUST_DRIVER (cargo xtask bench does this)");
    };
    let Some(go) = std::env::var_os("BENCH_GO_DRIVER").map(PathBuf::from) else {
        anyhow::bail!("set BENCH_GO_DRIVER (cargo xtask bench does this)");
    };
    let r = measure("rsexec", &rust).await?;
    let g = measure("go-exec-driver", &go).await?;

    let dur = |v: &[Duration]| {
        format!(
            "{} / {} / {}",
            ms(pct(v, 0.0)),
            ms(pct(v, 0.5)),
            ms(pct(v, 0.99))
        )
    };
    let rd = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE);
    let rf = |a: f64, b: f64| a / b.max(f64::MIN_POSITIVE);
    let rows: Vec<(String, String, String, f64)> = vec![
        (
            format!(
                "spawn→handshake, ms (min / median / p99, {} launches)",
                r.handshake.len()
            ),
            dur(&r.handshake),
            dur(&g.handshake),
            rd(pct(&r.handshake, 0.5), pct(&g.handshake, 0.5)),
        ),
        (
            "RSS right after handshake, MiB (median)".into(),
            mib(median_u64(&r.rss_handshake)),
            mib(median_u64(&g.rss_handshake)),
            rf(
                median_u64(&r.rss_handshake) as f64,
                median_u64(&g.rss_handshake) as f64,
            ),
        ),
        (
            "idle RSS, configured, MiB".into(),
            mib(r.rss_idle),
            mib(g.rss_idle),
            rf(r.rss_idle as f64, g.rss_idle as f64),
        ),
        (
            format!("RSS with {} running tasks, MiB", r.tasks),
            mib(r.rss_loaded),
            mib(g.rss_loaded),
            rf(r.rss_loaded as f64, g.rss_loaded as f64),
        ),
        (
            "RSS after destroying them, MiB".into(),
            mib(r.rss_destroyed),
            mib(g.rss_destroyed),
            rf(r.rss_destroyed as f64, g.rss_destroyed as f64),
        ),
        (
            "InspectTask rate, 1 client, RPC/s".into(),
            format!("{:.0}", r.rpc1),
            format!("{:.0}", g.rpc1),
            rf(r.rpc1, g.rpc1),
        ),
        (
            "InspectTask rate, 16 concurrent clients, RPC/s".into(),
            format!("{:.0}", r.rpc16),
            format!("{:.0}", g.rpc16),
            rf(r.rpc16, g.rpc16),
        ),
        (
            format!(
                "StartTask→running, ms (min / median / p99, {} tasks)",
                r.start.len()
            ),
            dur(&r.start),
            dur(&g.start),
            rd(pct(&r.start, 0.5), pct(&g.start, 0.5)),
        ),
        (
            format!(
                "WaitTask wake-up after the task's exit, ms (min / median / p99, {} exits)",
                r.wait.len()
            ),
            dur(&r.wait),
            dur(&g.wait),
            rd(pct(&r.wait, 0.5), pct(&g.wait, 0.5)),
        ),
        (
            format!(
                "StopTask→answered (SIGTERM, the task exits), ms (min / median / p99, {} stops)",
                r.stop.len()
            ),
            dur(&r.stop),
            dur(&g.stop),
            rd(pct(&r.stop, 0.5), pct(&g.stop, 0.5)),
        ),
        (
            format!(
                "plugin RSS per running task (RSS with {} tasks − idle RSS) / tasks, KiB",
                r.tasks
            ),
            per_task_kib(r.rss_loaded, r.rss_idle, r.tasks),
            per_task_kib(g.rss_loaded, g.rss_idle, g.tasks),
            rf(
                r.rss_loaded.saturating_sub(r.rss_idle) as f64,
                g.rss_loaded.saturating_sub(g.rss_idle) as f64,
            ),
        ),
        (
            "supervisor processes with the tasks running: count, RSS per supervisor KiB".into(),
            format!(
                "{}, {}",
                r.supervisors,
                per_task_kib(r.supervisor_rss, 0, r.supervisors)
            ),
            format!(
                "{}, {}",
                g.supervisors,
                per_task_kib(g.supervisor_rss, 0, g.supervisors)
            ),
            f64::NAN,
        ),
        (
            "ExecTaskStreaming stdout, MiB/s (best of 3)".into(),
            format!("{:.0}", r.exec_mbps),
            format!("{:.0}", g.exec_mbps),
            rf(r.exec_mbps, g.exec_mbps),
        ),
        (
            format!(
                "TaskStats streams (1 s interval): CPU % of the plugin, {} streams",
                r.stats_streams
            ),
            format!("{:.1}", r.stats_cpu),
            format!("{:.1}", g.stats_cpu),
            rf(r.stats_cpu, g.stats_cpu),
        ),
        (
            "… streams that delivered stats / messages per second".into(),
            format!(
                "{} / {:.0}",
                r.stats_live,
                r.stats_msgs as f64 / env_usize("BENCH_STATS_SECS", 10) as f64
            ),
            format!(
                "{} / {:.0}",
                g.stats_live,
                g.stats_msgs as f64 / env_usize("BENCH_STATS_SECS", 10) as f64
            ),
            rf(r.stats_msgs as f64, g.stats_msgs as f64),
        ),
        (
            "binary size, MiB".into(),
            mib(r.size),
            mib(g.size),
            rf(r.size as f64, g.size as f64),
        ),
    ];
    println!("\n| measure | Rust (rsexec) | Go (go-exec-driver) | Rust/Go |");
    println!("|---|---|---|---|");
    for (what, rv, gv, ratio) in rows {
        println!("| {what} | {rv} | {gv} | {ratio:.2} |");
    }
    Ok(())
}

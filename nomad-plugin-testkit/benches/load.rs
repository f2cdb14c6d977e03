//! Load benchmark: the reference drivers under many tasks and streams, to
//! show that nothing in the plugin grows without bound. Not a test: it
//! prints what it measured, round by round, and a summary table.
//!
//! Run with `cargo xtask bench --load`, which builds `rsexec` and
//! `go-exec-driver` optimised and passes their paths in
//! `BENCH_RUST_DRIVER` and `BENCH_GO_DRIVER` (leave the Go one unset to
//! measure rsexec alone).
//!
//! For each driver, one plugin process, one Nomad-like client:
//!
//! 1. **cycles**: `LOAD_ROUNDS` rounds of `LOAD_ROUND_TASKS` `sleep` tasks
//!    started (`LOAD_CONCURRENCY` StartTask calls in flight) and then
//!    destroyed with `DestroyTask{force}`; RSS, open fds and threads of the
//!    plugin after each round. RSS that steps up every round is a leak;
//!    RSS that stops at a plateau is the allocator keeping freed memory.
//! 2. **waits**: `LOAD_WAITS` concurrent `WaitTask` calls spread over
//!    `LOAD_WAIT_TASKS` running tasks, held open, then every task destroyed
//!    and every call's answer counted.
//! 3. **stats**: one `TaskStats` stream per task for `LOAD_STATS_TASKS`
//!    tasks at Nomad's collection interval (1 s, the client's default
//!    `telemetry.collection_interval`), the plugin's CPU time from
//!    `/proc/<pid>/stat` over `LOAD_STATS_SECS` seconds; then every stream
//!    cancelled at once (as a client stopping many tasks does) and both
//!    connections checked with an RPC.
//!
//! Defaults: `LOAD_ROUNDS=10 LOAD_ROUND_TASKS=1000 LOAD_CONCURRENCY=8
//! LOAD_WAITS=10000 LOAD_WAIT_TASKS=100 LOAD_STATS_TASKS=1000
//! LOAD_STATS_SECS=10 LOAD_STATS_ROUNDS=2 LOAD_STATS_INTERVAL_MS=1000`;
//! the Go driver runs `LOAD_GO_ROUNDS=2` start/destroy rounds (it is the
//! comparison, and the whole run should stay within ten minutes on two
//! cores). The stats phase is repeated so that memory kept after the first
//! round (allocator) can be told from memory added by every round (leak). `LOAD_PLUGIN_ENV="K=V K2=V2"` adds environment to
//! the plugins (the allocator experiment: `MALLOC_ARENA_MAX=2`);
//! `LOAD_STATS_H2_DEFAULTS=1` opens the stats connection with tonic's
//! default HTTP/2 client settings instead of the testkit's (the
//! `too_many_internal_resets` experiment; `LOAD_STATS_INTERVAL_MS=10`
//! makes it likely); `LOAD_MALLOC_TRIM=1` calls `malloc_trim(0)` in the
//! plugin through gdb after each round and reads RSS again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::{InspectTaskRequest, TaskStatsRequest, WaitTaskRequest};
use tonic::transport::Channel;

// Each bench uses a part of the shared code.
#[allow(dead_code)]
mod support;
use support::{
    cpu_ticks, destroy_task, env_usize, pct, reset_peak_rss, snapshot, start_task, ticks_per_sec,
    Bench, ProcSnapshot,
};

/// The plugin after one start/destroy round.
struct Round {
    /// With every task of the round running.
    running: ProcSnapshot,
    /// One second after the last destroy.
    destroyed: ProcSnapshot,
    /// Wall time of the round (start and destroy).
    took: Duration,
    /// Median StartTask duration.
    start_p50: Duration,
    /// After `malloc_trim(0)` in the plugin, when the experiment asks.
    trimmed: Option<ProcSnapshot>,
}

/// Everything measured for one driver.
#[derive(Default)]
struct Load {
    idle: ProcSnapshot,
    rounds: Vec<Round>,
    cycles_peak: u64,
    tasks_cycled: usize,
    waits: usize,
    wait_tasks: usize,
    waits_open: ProcSnapshot,
    waits_answered: usize,
    waits_all_answered_in: Duration,
    waits_after: ProcSnapshot,
    waits_peak: u64,
    /// The first failed WaitTask call, if any.
    waits_error: String,
    stats_streams: usize,
    stats_live: usize,
    stats_msgs_per_s: f64,
    stats_cpu: f64,
    stats_client_cpu: f64,
    stats_open: ProcSnapshot,
    stats_after: ProcSnapshot,
    stats_peak: u64,
    /// RSS after each stats round's tasks were destroyed.
    stats_rounds_after: Vec<u64>,
    /// What an RPC on each connection said right after the streams were
    /// cancelled: `ok` or the error.
    after_cancel_main: String,
    after_cancel_stats: String,
    end: ProcSnapshot,
    wall: Duration,
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1024.0 * 1024.0))
}

/// Starts `n` `sleep 600` tasks numbered from `first`, `concurrency` calls
/// in flight; their ids and StartTask durations.
async fn start_many(
    b: &Bench,
    first: usize,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<(Vec<String>, Vec<Duration>)> {
    let cfgs = (first..first + n)
        .map(|i| b.task(i, "sleep", &["600"]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let results: Vec<(String, Duration)> = futures::stream::iter(cfgs)
        .map(|cfg| {
            let mut c = b.client.clone();
            async move { start_task(&mut c, cfg).await }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    Ok(results.into_iter().unzip())
}

/// Destroys every task (force), `concurrency` calls in flight, and removes
/// the alloc directories the bench made for them.
async fn destroy_many(b: &Bench, ids: &[String], concurrency: usize) -> anyhow::Result<()> {
    futures::stream::iter(ids.iter().cloned())
        .map(|id| {
            let mut c = b.client.clone();
            async move { destroy_task(&mut c, &id).await }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    for id in ids {
        if let Some(alloc) = id.split('/').next() {
            let _ = std::fs::remove_dir_all(b.work.path().join(alloc));
        }
    }
    Ok(())
}

/// An RPC on `client` that touches the driver: `ok`, or the error with
/// its sources (h2 says "detected" for an error this side found and
/// "received" for one the peer sent).
async fn probe(client: &DriverClient<Channel>) -> String {
    let mut c = client.clone();
    match c
        .inspect_task(InspectTaskRequest {
            task_id: "load-probe/none/0".into(),
        })
        .await
    {
        Ok(_) => "ok".into(),
        // The task does not exist: the connection works.
        Err(s) if s.code() == tonic::Code::NotFound => "ok".into(),
        Err(s) => status_chain(&s),
    }
}

/// A status with its error sources.
fn status_chain(s: &tonic::Status) -> String {
    let mut msg = s.to_string();
    let mut src = std::error::Error::source(s);
    while let Some(e) = src {
        msg.push_str(&format!(": {e}"));
        src = e.source();
    }
    msg
}

async fn cycles(b: &Bench, pid: u32, rounds: usize, f: &mut Load) -> anyhow::Result<()> {
    let per_round = env_usize("LOAD_ROUND_TASKS", 1000);
    let concurrency = env_usize("LOAD_CONCURRENCY", 8).max(1);
    reset_peak_rss(pid);
    for r in 0..rounds {
        let t0 = Instant::now();
        let (ids, mut took) =
            start_many(b, 100_000 + r * per_round, per_round, concurrency).await?;
        took.sort();
        let running = snapshot(pid);
        destroy_many(b, &ids, concurrency).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let destroyed = snapshot(pid);
        let took_all = t0.elapsed();
        let trimmed = malloc_trim(pid).await;
        let round = Round {
            running,
            destroyed,
            took: took_all,
            start_p50: pct(&took, 0.5),
            trimmed,
        };
        eprintln!(
            "  round {:2}: {per_round} tasks in {:.1}s, RSS running {} MiB, after destroy {} MiB (anon {} MiB), fds {}, threads {}",
            r + 1,
            round.took.as_secs_f64(),
            mib(round.running.rss),
            mib(round.destroyed.rss),
            mib(round.destroyed.anon),
            round.destroyed.fds,
            round.destroyed.threads
        );
        if let Some(t) = round.trimmed {
            eprintln!(
                "            after malloc_trim(0): RSS {} MiB (anon {} MiB)",
                mib(t.rss),
                mib(t.anon)
            );
        }
        f.tasks_cycled += ids.len();
        f.rounds.push(round);
    }
    f.cycles_peak = snapshot(pid).hwm;
    Ok(())
}

async fn waits(b: &Bench, pid: u32, f: &mut Load) -> anyhow::Result<()> {
    let waits = env_usize("LOAD_WAITS", 10_000);
    let tasks = env_usize("LOAD_WAIT_TASKS", 100).max(1);
    let concurrency = env_usize("LOAD_CONCURRENCY", 8).max(1);
    reset_peak_rss(pid);
    let (ids, _) = start_many(b, 200_000, tasks, concurrency).await?;
    let answered = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let opened = Instant::now();
    let mut calls = Vec::with_capacity(waits);
    for i in 0..waits {
        let mut c = b.client.clone();
        let id = ids[i % ids.len()].clone();
        let answered = answered.clone();
        let first_error = first_error.clone();
        calls.push(tokio::spawn(async move {
            let resp = c.wait_task(WaitTaskRequest { task_id: id }).await;
            let ok = matches!(&resp, Ok(r) if r.get_ref().result.is_some());
            if ok {
                answered.fetch_add(1, Ordering::Relaxed);
            } else if let Ok(mut e) = first_error.lock() {
                e.get_or_insert_with(|| {
                    let what = match resp {
                        Ok(r) => format!("answer without a result: {:?}", r.get_ref()),
                        Err(s) => status_chain(&s),
                    };
                    format!(
                        "{:.1}s after the calls opened: {what}",
                        opened.elapsed().as_secs_f64()
                    )
                });
            }
            ok
        }));
    }
    // Let every call reach the plugin and park there; none may answer
    // while its task runs.
    tokio::time::sleep(Duration::from_secs(5)).await;
    anyhow::ensure!(
        answered.load(Ordering::Relaxed) == 0,
        "WaitTask answered while its task was running"
    );
    f.waits_open = snapshot(pid);
    let t0 = Instant::now();
    destroy_many(b, &ids, concurrency).await?;
    let mut ok = 0;
    for c in calls {
        if tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false)
        {
            ok += 1;
        }
    }
    f.waits_all_answered_in = t0.elapsed();
    if let Some(e) = first_error.lock().ok().and_then(|mut e| e.take()) {
        eprintln!("  WaitTask failed: {e}");
        f.waits_error = e;
    }
    f.waits = waits;
    f.wait_tasks = ids.len();
    f.waits_answered = ok;
    tokio::time::sleep(Duration::from_secs(1)).await;
    f.waits_after = snapshot(pid);
    f.waits_peak = f.waits_after.hwm;
    Ok(())
}

async fn stats(b: &Bench, pid: u32, f: &mut Load) -> anyhow::Result<()> {
    let tasks = env_usize("LOAD_STATS_TASKS", 1000);
    let secs = env_usize("LOAD_STATS_SECS", 10) as u64;
    let interval_ms = env_usize("LOAD_STATS_INTERVAL_MS", 1000) as u64;
    let concurrency = env_usize("LOAD_CONCURRENCY", 8).max(1);
    reset_peak_rss(pid);
    let (ids, _) = start_many(b, 300_000, tasks, concurrency).await?;
    // The streams get a connection of their own, so that whatever the
    // mass cancellation does to it can be told apart from the main one.
    let stats_channel = if std::env::var_os("LOAD_STATS_H2_DEFAULTS").is_some() {
        default_h2_channel(&b.plugin.address().endpoint).await?
    } else {
        nomad_plugin_testkit::launch::connect(&b.plugin.address().endpoint).await?
    };
    let stats_client = DriverClient::new(stats_channel);
    let msgs = Arc::new(AtomicU64::new(0));
    let live = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for id in &ids {
        let mut c = stats_client.clone();
        let (msgs, live, id) = (msgs.clone(), live.clone(), id.clone());
        readers.push(tokio::spawn(async move {
            let req = TaskStatsRequest {
                task_id: id,
                collection_interval: Some(nomad_plugin_proto::prost_types::Duration {
                    seconds: (interval_ms / 1000) as i64,
                    nanos: ((interval_ms % 1000) * 1_000_000) as i32,
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
    tokio::time::sleep(Duration::from_secs(5)).await;
    let me = std::process::id();
    let (c0, m0, own0, t0) = (
        cpu_ticks(pid).context("no /proc stat for the plugin")?,
        msgs.load(Ordering::Relaxed),
        cpu_ticks(me).unwrap_or(0),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let c1 = cpu_ticks(pid).context("no /proc stat for the plugin")?;
    let own1 = cpu_ticks(me).unwrap_or(0);
    let wall = t0.elapsed().as_secs_f64();
    f.stats_cpu = (c1 - c0) as f64 / ticks_per_sec() / wall * 100.0;
    f.stats_client_cpu = own1.saturating_sub(own0) as f64 / ticks_per_sec() / wall * 100.0;
    f.stats_msgs_per_s = (msgs.load(Ordering::Relaxed) - m0) as f64 / wall;
    f.stats_live = live.load(Ordering::Relaxed) as usize;
    f.stats_streams = ids.len();
    f.stats_open = snapshot(pid);
    // Every stream cancelled at once, as a client stopping many tasks of
    // this driver does; then both connections must still serve.
    for r in &readers {
        r.abort();
    }
    for r in readers {
        let _ = r.await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    f.after_cancel_main = probe(&b.client).await;
    f.after_cancel_stats = probe(&stats_client).await;
    drop(stats_client);
    destroy_many(b, &ids, concurrency).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    f.stats_after = snapshot(pid);
    f.stats_peak = f.stats_after.hwm;
    f.stats_rounds_after.push(f.stats_after.rss);
    if let Some(t) = malloc_trim(pid).await {
        eprintln!(
            "  after malloc_trim(0): RSS {} MiB (anon {} MiB)",
            mib(t.rss),
            mib(t.anon)
        );
    }
    Ok(())
}

/// A channel with tonic's and h2's default client settings, not the
/// testkit's: the experiment that shows which side closes the connection
/// after a mass cancellation (`LOAD_STATS_H2_DEFAULTS=1`).
async fn default_h2_channel(
    endpoint: &nomad_plugin_testkit::launch::Endpoint,
) -> anyhow::Result<Channel> {
    let nomad_plugin_testkit::launch::Endpoint::Unix(path) = endpoint.clone() else {
        anyhow::bail!("the experiment expects a Unix socket");
    };
    let channel = tonic::transport::Endpoint::from_static("http://unused")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let s = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
            }
        }))
        .await?;
    Ok(channel)
}

/// The allocator experiment (`LOAD_MALLOC_TRIM=1`, needs gdb): calls
/// glibc's `malloc_trim(0)` inside the plugin, which hands every free page
/// back to the kernel, and reads the plugin again. What RSS drops is memory
/// the allocator kept, not memory the plugin still uses. Only for plugins
/// that allocate with glibc malloc (not Go).
async fn malloc_trim(pid: u32) -> Option<ProcSnapshot> {
    std::env::var_os("LOAD_MALLOC_TRIM")?;
    let out = tokio::process::Command::new("gdb")
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "call (int) malloc_trim(0)",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        eprintln!("gdb could not call malloc_trim in {pid}");
        return None;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    Some(snapshot(pid))
}

fn plugin_env() -> Vec<(String, String)> {
    std::env::var("LOAD_PLUGIN_ENV")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

async fn measure(name: &str, binary: &Path, rounds: usize) -> anyhow::Result<Load> {
    let started = Instant::now();
    let mut f = Load::default();
    let b = Bench::launch_with_env(binary, &plugin_env()).await?;
    let pid = b.plugin.pid().context("plugin gone")?;
    let result = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        f.idle = snapshot(pid);
        eprintln!(
            "[{name}] idle: RSS {} MiB, fds {}, threads {}",
            mib(f.idle.rss),
            f.idle.fds,
            f.idle.threads
        );
        eprintln!("[{name}] start/destroy cycles");
        cycles(&b, pid, rounds, &mut f).await?;
        eprintln!("[{name}] concurrent WaitTask");
        waits(&b, pid, &mut f).await?;
        for r in 0..env_usize("LOAD_STATS_ROUNDS", 2) {
            eprintln!("[{name}] TaskStats streams, round {}", r + 1);
            stats(&b, pid, &mut f).await?;
            eprintln!(
                "  after destroy: RSS {} MiB (anon {} MiB), fds {}, threads {}",
                mib(f.stats_after.rss),
                mib(f.stats_after.anon),
                f.stats_after.fds,
                f.stats_after.threads
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        f.end = snapshot(pid);
        anyhow::Ok(())
    }
    .await;
    // What the plugin logged above info (h2 names the limits it enforces
    // at warn), and anything that was not a log line.
    for line in b.plugin.logs() {
        use nomad_plugin_testkit::launch::{LogLevel, StderrLine};
        match line {
            StderrLine::Log(e) if e.level >= Some(LogLevel::Warn) => {
                eprintln!("[{name}] plugin log: {:?} {}", e.level, e.message)
            }
            StderrLine::Log(_) => {}
            other => eprintln!("[{name}] plugin stderr: {other:?}"),
        }
    }
    let left = b.reap_leftovers();
    if left > 0 {
        eprintln!("[{name}] killed {left} task processes the driver left behind");
    }
    let Bench { plugin, work, .. } = b;
    plugin.kill().await?;
    drop(work);
    result?;
    f.wall = started.elapsed();
    Ok(f)
}

fn print_rounds(name: &str, f: &Load) {
    println!("\n{name}: start/destroy rounds (RSS MiB / fds / threads)\n");
    println!("| round | tasks | wall, s | StartTask median, ms | running | after destroy | RSS after malloc_trim |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| idle | 0 | | | {} / {} / {} | | |",
        mib(f.idle.rss),
        f.idle.fds,
        f.idle.threads
    );
    let per_round = env_usize("LOAD_ROUND_TASKS", 1000);
    for (i, r) in f.rounds.iter().enumerate() {
        println!(
            "| {} | {} | {:.1} | {:.1} | {} / {} / {} | {} / {} / {} | {} |",
            i + 1,
            (i + 1) * per_round,
            r.took.as_secs_f64(),
            r.start_p50.as_secs_f64() * 1000.0,
            mib(r.running.rss),
            r.running.fds,
            r.running.threads,
            mib(r.destroyed.rss),
            r.destroyed.fds,
            r.destroyed.threads,
            r.trimmed.map(|t| mib(t.rss)).unwrap_or_else(|| "-".into())
        );
    }
}

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench targets without `--bench`: this
    // is a measurement, not a test, so do nothing there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("load bench: run it with `cargo xtask bench --load`");
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
        anyhow::bail!("set BENCH_RUST_DRIVER (cargo xtask bench --load does this)");
    };
    let go = std::env::var_os("BENCH_GO_DRIVER").map(PathBuf::from);
    let rounds = env_usize("LOAD_ROUNDS", 10);
    let mut results = vec![("rsexec", measure("rsexec", &rust, rounds).await?)];
    if let Some(go) = go {
        let go_rounds = env_usize("LOAD_GO_ROUNDS", 2);
        results.push((
            "go-exec-driver",
            measure("go-exec-driver", &go, go_rounds).await?,
        ));
    }
    for (name, f) in &results {
        print_rounds(name, f);
    }

    let names: Vec<&str> = results.iter().map(|(n, _)| *n).collect();
    println!("\n| measure | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    let row = |what: String, cell: &dyn Fn(&Load) -> String| {
        let cells: Vec<String> = results.iter().map(|(_, f)| cell(f)).collect();
        println!("| {what} | {} |", cells.join(" | "));
    };
    let snap = |s: &ProcSnapshot| format!("{} / {} / {}", mib(s.rss), s.fds, s.threads);
    row("idle: RSS MiB / fds / threads".into(), &|f| snap(&f.idle));
    row("tasks started and destroyed (rounds)".into(), &|f| {
        format!("{} ({})", f.tasks_cycled, f.rounds.len())
    });
    row("peak RSS during the rounds, MiB".into(), &|f| {
        mib(f.cycles_peak)
    });
    row("after round 1 / 5 / last: RSS MiB".into(), &|f| {
        let at = |i: usize| {
            f.rounds
                .get(i)
                .map(|r| mib(r.destroyed.rss))
                .unwrap_or_default()
        };
        format!(
            "{} / {} / {}",
            at(0),
            at(4.min(f.rounds.len().saturating_sub(1))),
            at(f.rounds.len().saturating_sub(1))
        )
    });
    row(
        "after the last round: RSS MiB / fds / threads".into(),
        &|f| {
            f.rounds
                .last()
                .map(|r| snap(&r.destroyed))
                .unwrap_or_default()
        },
    );
    row("concurrent WaitTask calls (over tasks)".into(), &|f| {
        format!("{} ({})", f.waits, f.wait_tasks)
    });
    row("… held open: RSS MiB / fds / threads".into(), &|f| {
        snap(&f.waits_open)
    });
    row(
        "… answered after destroy / all answered in, s".into(),
        &|f| {
            format!(
                "{} / {:.1}",
                f.waits_answered,
                f.waits_all_answered_in.as_secs_f64()
            )
        },
    );
    row("… first failure".into(), &|f| {
        if f.waits_error.is_empty() {
            "none".into()
        } else {
            f.waits_error.clone()
        }
    });
    row("… peak RSS, then after: MiB".into(), &|f| {
        format!("{} → {}", mib(f.waits_peak), mib(f.waits_after.rss))
    });
    row("TaskStats streams at 1 s".into(), &|f| {
        f.stats_streams.to_string()
    });
    row(
        "… CPU % of one core: plugin (bench client)".into(),
        &|f| format!("{:.1} ({:.1})", f.stats_cpu, f.stats_client_cpu),
    );
    row("… streams delivering / messages per s".into(), &|f| {
        format!("{} / {:.0}", f.stats_live, f.stats_msgs_per_s)
    });
    row("… open: RSS MiB / fds / threads".into(), &|f| {
        snap(&f.stats_open)
    });
    row(
        "… peak RSS (last round), then after destroy: MiB".into(),
        &|f| format!("{} → {}", mib(f.stats_peak), mib(f.stats_after.rss)),
    );
    row("… RSS after each stats round: MiB".into(), &|f| {
        let v: Vec<String> = f.stats_rounds_after.iter().map(|r| mib(*r)).collect();
        v.join(" / ")
    });
    row(
        "… RPC after cancelling all: main / stats connection".into(),
        &|f| format!("{} / {}", f.after_cancel_main, f.after_cancel_stats),
    );
    row("end: RSS MiB / fds / threads".into(), &|f| snap(&f.end));
    row("wall time, s".into(), &|f| {
        format!("{:.0}", f.wall.as_secs_f64())
    });
    Ok(())
}

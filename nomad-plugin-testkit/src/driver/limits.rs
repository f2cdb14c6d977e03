//! The `limits` group: what Nomad's scheduler counts on a driver to
//! enforce. A task above its `memory` is OOM-killed and reported so; stop
//! and destroy leave nothing of the task running, children that left its
//! process group (`setsid`) included; stats measure the task's whole
//! process tree.
//!
//! Nomad has no capability that says a driver enforces resources, so these
//! run for every driver. A driver without cgroups (like the Go reference
//! driver, or Nomad's `raw_exec`) fails them, and the report says what an
//! operator would see.

use std::path::Path;
use std::time::Duration;

use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::{
    StartTaskRequest, StopTaskRequest, TaskStatsRequest, TaskStatsResponse, WaitTaskRequest,
};
use tokio::time::Instant;
use tonic::transport::Channel;

use super::fixture::{alloc_processes, TaskFixture};
use super::instance::StreamWatch;
use super::tasks::prost_types_duration;
use super::{rpc, wait_running, Ctx};

/// The memory a limits task gets, and what its script takes.
const LIMIT_MB: i64 = 32;
const TAKES_MB: u64 = 128;

/// Sets the task's memory (allocated and Linux limit) to `mb`.
fn set_memory(fx: &mut TaskFixture, mb: i64) {
    if let Some(r) = fx.config.resources.as_mut() {
        if let Some(m) = r
            .allocated_resources
            .as_mut()
            .and_then(|a| a.memory.as_mut())
        {
            m.memory_mb = mb;
            m.memory_max_mb = 0;
        }
        if let Some(l) = r.linux_resources.as_mut() {
            l.memory_limit_bytes = mb * 1024 * 1024;
        }
    }
    fx.config
        .env
        .insert("NOMAD_MEMORY_LIMIT".into(), mb.to_string());
}

/// Waits until the task wrote `name` into the allocation's shared dir.
async fn wait_for_mark(fx: &TaskFixture, name: &str, patience: Duration) -> bool {
    let path = fx.alloc_dir.join("alloc").join(name);
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if Path::new(&path).exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn start(
    ctx: &Ctx,
    client: &mut DriverClient<Channel>,
    fx: &TaskFixture,
) -> Result<(), String> {
    let req = StartTaskRequest {
        task: Some(fx.config.clone()),
    };
    rpc(ctx.patience, "StartTask", client.start_task(req))
        .await
        .map_err(|e| format!("{e}; {}", fx.output()))?;
    Ok(())
}

pub(crate) async fn limits(ctx: &mut Ctx) {
    memory(ctx).await;
    nothing_survives(ctx).await;
    stats_tree(ctx).await;
}

async fn memory(ctx: &mut Ctx) {
    let Some(mut client) = ctx.client() else {
        return;
    };
    // The shell itself holds the memory (a command substitution), so the
    // OOM killer picks the task's main process; bounded, so a driver that
    // enforces nothing does no harm.
    let script = format!(
        "x=$(head -c {} /dev/zero | tr '\\0' a); echo survived; exit 0",
        TAKES_MB << 20
    );
    let result = async {
        let mut fx = ctx.fixture("oom", &script)?;
        set_memory(&mut fx, LIMIT_MB);
        start(ctx, &mut client, &fx).await?;
        let id = fx.config.id.clone();
        let wait = rpc(
            ctx.patience * 2,
            "WaitTask",
            client.wait_task(WaitTaskRequest {
                task_id: id.clone(),
            }),
        )
        .await;
        ctx.destroy(&mut client, &id).await;
        let r = wait?;
        let res = r.result.unwrap_or_default();
        if !res.oom_killed {
            return Err(format!(
                "a task with memory = {LIMIT_MB} MiB that takes {TAKES_MB} MiB ended with exit code {} signal {} and oom_killed = false: {}",
                res.exit_code,
                res.signal,
                if res.exit_code == 0 {
                    "the driver does not enforce the memory limit, so one task can starve the node Nomad scheduled it on"
                } else {
                    "Nomad shows no \"OOM Killed\" for it, so the operator cannot tell why it died"
                }
            ));
        }
        Ok(format!(
            "memory = {LIMIT_MB} MiB, took {TAKES_MB} MiB: OOM-killed (exit code {}, signal {}), reported as oom_killed",
            res.exit_code, res.signal
        ))
    }
    .await;
    ctx.report.record("limits.memory_oom_killed", result);
}

async fn nothing_survives(ctx: &mut Ctx) {
    let Some(mut client) = ctx.client() else {
        return;
    };
    // A child in a session of its own, outside the task's process group,
    // as a daemonising program leaves it; the main process ignores SIGINT.
    let script = "setsid sh -c 'echo > \"$NOMAD_ALLOC_DIR/daemon\"; exec sleep 1000' & \
                  trap '' INT; echo ready; while :; do sleep 0.1; done";
    let result = async {
        let fx = ctx.fixture("daemon", script)?;
        start(ctx, &mut client, &fx).await?;
        let id = fx.config.id.clone();
        wait_running(&mut client, &id, ctx.patience).await?;
        if !wait_for_mark(&fx, "daemon", ctx.patience).await {
            ctx.destroy(&mut client, &id).await;
            return Err(format!("the task's setsid child never ran; {}", fx.output()));
        }
        let before = alloc_processes(&fx.config.alloc_id).len();
        let stop = rpc(
            ctx.patience,
            "StopTask",
            client.stop_task(StopTaskRequest {
                task_id: id.clone(),
                timeout: Some(prost_types_duration(Duration::from_millis(500))),
                signal: "SIGINT".into(),
            }),
        )
        .await;
        ctx.destroy(&mut client, &id).await;
        stop?;
        // The kernel tears killed processes down asynchronously.
        let deadline = Instant::now() + ctx.patience;
        let mut left = alloc_processes(&fx.config.alloc_id);
        while !left.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            left = alloc_processes(&fx.config.alloc_id);
        }
        if !left.is_empty() {
            return Err(format!(
                "after StopTask and DestroyTask, processes {left:?} of the task still run (a child that called setsid): \
                 `nomad alloc stop` leaves them behind, holding the task's ports and files; kill the task's cgroup, not its process group"
            ));
        }
        Ok(format!(
            "{before} processes, a setsid child among them: none left after StopTask + DestroyTask"
        ))
    }
    .await;
    ctx.report
        .record("limits.stop_destroy_leaves_nothing", result);
}

async fn stats_tree(ctx: &mut Ctx) {
    let Some(mut client) = ctx.client() else {
        return;
    };
    const HOLD_MB: u64 = 64;
    // A child in its own session holds HOLD_MB; the main process is small.
    let script = format!(
        "setsid sh -c 'x=$(head -c {} /dev/zero | tr \"\\\\0\" a); echo > \"$NOMAD_ALLOC_DIR/held\"; sleep 1000' & \
         echo ready; while :; do sleep 0.1; done",
        HOLD_MB << 20
    );
    let result = async {
        let fx = ctx.fixture("tree", &script)?;
        start(ctx, &mut client, &fx).await?;
        let id = fx.config.id.clone();
        let r = async {
            wait_running(&mut client, &id, ctx.patience).await?;
            if !wait_for_mark(&fx, "held", ctx.patience).await {
                return Err(format!("the task's child never took its memory; {}", fx.output()));
            }
            let mut c = client.clone();
            let req = TaskStatsRequest {
                task_id: id.clone(),
                collection_interval: Some(prost_types_duration(Duration::from_millis(200))),
            };
            let watch: StreamWatch<TaskStatsResponse> =
                StreamWatch::start(async move { c.task_stats(req).await });
            let got = watch.wait_count(1, ctx.patience).await;
            let items = watch.items();
            drop(watch);
            if !got {
                return Err("no TaskStats message arrived".into());
            }
            let mem = items
                .first()
                .and_then(|(_, m)| m.stats.as_ref()?.agg_resource_usage.as_ref()?.memory.clone())
                .unwrap_or_default();
            let seen = mem.rss.max(mem.usage);
            if seen < HOLD_MB << 20 {
                return Err(format!(
                    "TaskStats reports {} MiB (RSS {}, usage {}) while a child of the task (in its own session) holds {HOLD_MB} MiB: \
                     Nomad's alloc status and metrics miss most of what the task uses; measure the task's cgroup",
                    seen >> 20,
                    mem.rss,
                    mem.usage
                ));
            }
            Ok(format!(
                "TaskStats counts the whole tree: {} MiB with a {HOLD_MB} MiB setsid child",
                seen >> 20
            ))
        }
        .await;
        ctx.destroy(&mut client, &id).await;
        r
    }
    .await;
    ctx.report.record("limits.stats_whole_tree", result);
}

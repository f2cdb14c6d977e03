//! Checks of the plugin-wide streams and of a task's life: fingerprint,
//! start/inspect/wait, stop, destroy, stats, signals, events.

use std::time::Duration;

use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::{
    fingerprint_response::HealthState, DestroyTaskRequest, ExitResult, InspectTaskRequest,
    SignalTaskRequest, StopTaskRequest, TaskState, TaskStatsRequest, TaskStatsResponse,
    WaitTaskRequest,
};
use nomad_plugin_proto::nomad::structs::{attribute, Attribute};
use tokio::time::Instant;
use tonic::transport::Channel;

use super::fixture::alloc_processes;
use super::instance::StreamWatch;
use super::{inspect_rules, plain, rpc, wait_running, Ctx};

/// A task that prints to both streams and exits 3 once released.
const RELEASE_EXIT_3: &str = "echo hello-stdout; echo hello-stderr >&2; \
     while [ ! -e \"$NOMAD_ALLOC_DIR/release\" ]; do sleep 0.1; done; echo released; exit 3";
/// A task that runs until killed.
pub(crate) const FOREVER: &str = "echo ready; while :; do sleep 0.1; done";

/// An attribute as Nomad's `Attribute.GoString()` renders it.
fn go_string(a: &Attribute) -> String {
    let v = match &a.value {
        Some(attribute::Value::FloatVal(f)) => f.to_string(),
        Some(attribute::Value::IntVal(i)) => i.to_string(),
        Some(attribute::Value::StringVal(s)) => s.clone(),
        Some(attribute::Value::BoolVal(b)) => b.to_string(),
        None => String::new(),
    };
    format!("{v}{}", a.unit)
}

pub(crate) async fn fingerprint(ctx: &mut Ctx) {
    let Some(main) = ctx.main.as_ref().and_then(|m| m.instance()) else {
        return;
    };
    let fp = &main.fingerprints;
    let got = fp.wait_count(1, ctx.patience).await;
    let items = fp.items();
    let first = match (got, items.first()) {
        (true, Some((at, first))) => {
            let ms = at.duration_since(fp.opened()).as_millis();
            ctx.report.record(
                "fingerprint.first_within_deadline",
                Ok(format!("first fingerprint {ms} ms after the stream opened")),
            );
            first.clone()
        }
        _ => {
            let why = match fp.end() {
                Some((_, end)) => format!("the stream {end} before any message"),
                None => format!("no message within {:?}", ctx.patience),
            };
            ctx.report.record(
                "fingerprint.first_within_deadline",
                Err(format!(
                    "{why}: Nomad waits at most 50 s for a driver's first fingerprint at node start, then registers the node without this driver"
                )),
            );
            ctx.report
                .skip("fingerprint.healthy", "no fingerprint arrived");
            ctx.report
                .skip("fingerprint.stream_stays_open", "no fingerprint arrived");
            return;
        }
    };
    let mut attrs: Vec<_> = first
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={}", go_string(v)))
        .collect();
    attrs.sort();
    let health = HealthState::try_from(first.health).unwrap_or(HealthState::Undetected);
    let result = if !first.err.is_empty() {
        Err(format!(
            "the fingerprint carries err {:?}: Nomad logs \"received fingerprint error from driver\" and marks the driver unhealthy (\"failed to fingerprint driver\"), so no task is placed on this node",
            first.err
        ))
    } else if health != HealthState::Healthy {
        Err(format!(
            "health is {} ({:?}): the scheduler only places tasks on nodes where the driver is detected and healthy",
            health.as_str_name(),
            first.health_description
        ))
    } else {
        Ok(format!(
            "HEALTHY ({:?}), node attributes: {}",
            first.health_description,
            attrs.join(", ")
        ))
    };
    ctx.report.record("fingerprint.healthy", result);

    // A stream that ends right away shows up within moments; give it a
    // few seconds to end, and pass if it did not.
    let ended = fp
        .wait_until(Duration::from_secs(3), |_, end| end.is_some())
        .await;
    let result = match (ended, fp.end()) {
        (true, Some((_, end))) => Err(stream_end_consequence("Fingerprint", &end.to_string())),
        _ => Ok("still open 3 s after the first message".into()),
    };
    ctx.report.record("fingerprint.stream_stays_open", result);
}

fn stream_end_consequence(which: &str, end: &str) -> String {
    format!(
        "the {which} stream {end}: Nomad re-opens it immediately (and, for an error, marks the driver unhealthy), so a driver that ends it loops forever; keep the stream open until the client cancels it"
    )
}

/// End of the main instance's life: both plugin-wide streams must still be
/// open.
pub(crate) async fn fingerprint_still_open(ctx: &mut Ctx) {
    let Some(main) = ctx.main.as_ref().and_then(|m| m.instance()) else {
        return;
    };
    let result = match main.fingerprints.end() {
        Some((_, end)) => Err(stream_end_consequence("Fingerprint", &end.to_string())),
        None => Ok(format!(
            "open for {} ms, {} messages",
            main.fingerprints.opened().elapsed().as_millis(),
            main.fingerprints.items().len()
        )),
    };
    ctx.report.record("fingerprint.stream_open_at_end", result);
}

pub(crate) async fn events(ctx: &mut Ctx) {
    let Some(main) = ctx.main.as_ref().and_then(|m| m.instance()) else {
        return;
    };
    let events = main.events.items();
    let result = match main.events.end() {
        Some((_, end)) => Err(stream_end_consequence("TaskEvents", &end.to_string())),
        None => Ok(format!(
            "open for {} ms; {} events received",
            main.events.opened().elapsed().as_millis(),
            events.len()
        )),
    };
    ctx.report.record("events.stream_stays_open", result);
    let bad: Vec<_> = events
        .iter()
        .filter(|(_, e)| e.alloc_id.is_empty() || e.task_name.is_empty() || e.task_id.is_empty())
        .map(|(_, e)| plain::event(e))
        .collect();
    let result = if bad.is_empty() {
        Ok(format!(
            "{} events, each with task_id, alloc_id and task_name",
            events.len()
        ))
    } else {
        Err(format!(
            "events without task_id/alloc_id/task_name: Nomad cannot route them to a task and only logs \"no handler registered for event\": {}",
            bad.join("; ")
        ))
    };
    ctx.report.record("events.routable", result);
}

async fn wait_task(
    mut client: DriverClient<Channel>,
    task_id: String,
    patience: Duration,
) -> Result<(ExitResult, String), String> {
    let r = rpc(
        patience,
        "WaitTask",
        client.wait_task(WaitTaskRequest { task_id }),
    )
    .await?;
    match r.result {
        Some(res) => Ok((res, r.err)),
        None if !r.err.is_empty() => Ok((ExitResult::default(), r.err)),
        None => Err("WaitTask answered with neither result nor err: Nomad records exit code 0, and the task counts as successful whatever happened".into()),
    }
}

fn spawn_wait(
    ctx: &Ctx,
    client: &DriverClient<Channel>,
    task_id: &str,
) -> tokio::task::JoinHandle<Result<(ExitResult, String), String>> {
    tokio::spawn(wait_task(client.clone(), task_id.to_string(), ctx.patience))
}

async fn join_wait(
    h: tokio::task::JoinHandle<Result<(ExitResult, String), String>>,
) -> Result<(ExitResult, String), String> {
    h.await
        .map_err(|e| format!("waiting task failed: {e}"))
        .and_then(|r| r)
}

pub(crate) async fn lifecycle(ctx: &mut Ctx) {
    let Some(mut client) = ctx.client() else {
        return;
    };
    let (fx, resp) = match ctx.start(&mut client, "lifecycle", RELEASE_EXIT_3).await {
        Ok(x) => x,
        Err(e) => {
            ctx.report
                .record("lifecycle.start", Err(format!("{e}: the allocation fails")));
            return;
        }
    };
    let id = fx.config.id.clone();
    let handle_result = match &resp.handle {
        None => Err("StartTask returned no handle: Nomad persists a handle without config and, after an agent restart, treats the task as restored without calling RecoverTask, so the task may be started a second time".to_string()),
        Some(h) => match &h.config {
            None => Err("StartTask returned a handle without config: Nomad uses handle.config.id for DestroyTask and sends the handle back in RecoverTask; after an agent restart it would skip recovery and start the task a second time".to_string()),
            Some(c) if c.id != id => Err(format!(
                "handle.config.id is {:?}, not the task id {id:?}: Nomad's later DestroyTask and RecoverTask name a task the driver does not know",
                c.id
            )),
            Some(_) => Ok(format!(
                "handle version {}, config echoed, {} bytes of driver state",
                h.version,
                h.driver_state.len()
            )),
        },
    };
    ctx.report.record("lifecycle.start", handle_result);

    if ctx.caps.disable_log_collection {
        ctx.report.skip(
            "lifecycle.output_to_fifos",
            "disable_log_collection: Nomad runs no logmon for this driver",
        );
    } else {
        let out = fx.stdout.wait_for("hello-stdout", ctx.patience).await;
        let err = fx.stderr.wait_for("hello-stderr", ctx.patience).await;
        let result = if out && err {
            Ok("stdout and stderr reached Nomad's log FIFOs".into())
        } else {
            Err(format!(
                "the task's output did not reach {} (stdout_path/stderr_path): `nomad alloc logs` shows nothing; {}",
                if out { "stderr_path" } else if err { "stdout_path" } else { "either FIFO" },
                fx.output()
            ))
        };
        ctx.report.record("lifecycle.output_to_fifos", result);
    }

    let running = wait_running(&mut client, &id, ctx.patience).await;
    let result = running.and_then(|r| {
        inspect_rules(&r)?;
        Ok("InspectTask reports RUNNING with started_at, completed_at and result set".into())
    });
    ctx.report.record("lifecycle.inspect_running", result);

    // Two waiters before the exit: Nomad may wait from several places.
    let w1 = spawn_wait(ctx, &client, &id);
    let w2 = spawn_wait(ctx, &client, &id);
    if let Err(e) = fx.release() {
        ctx.report
            .record("lifecycle.wait_exit_code", Err(format!("suite error: {e}")));
        return;
    }
    let (r1, r2) = (join_wait(w1).await, join_wait(w2).await);
    let result = match (r1, r2) {
        (Ok((a, ea)), Ok((b, eb))) if a.exit_code == 3 && b.exit_code == 3 && ea.is_empty() && eb.is_empty() => {
            Ok("both concurrent WaitTask calls returned exit code 3".into())
        }
        (Ok((a, ea)), Ok((b, eb))) => Err(format!(
            "the task exited with code 3, but WaitTask returned {} and {}: Nomad records the wrong exit and applies the restart policy to it; {}",
            plain::wait_answer(Some(&a), &ea),
            plain::wait_answer(Some(&b), &eb),
            fx.output()
        )),
        (Err(e), _) | (_, Err(e)) => Err(format!(
            "{e}: Nomad never learns that the task exited; {}",
            fx.output()
        )),
    };
    ctx.report.record("lifecycle.wait_exit_code", result);

    let result = rpc(
        ctx.patience,
        "InspectTask",
        client.inspect_task(InspectTaskRequest {
            task_id: id.clone(),
        }),
    )
    .await
    .and_then(|r| {
        inspect_rules(&r)?;
        let t = r.task.unwrap_or_default();
        if t.state != TaskState::Exited as i32 {
            return Err(format!(
                "InspectTask after the exit reports state {} instead of EXITED",
                t.state
            ));
        }
        let code = t.result.map(|r| r.exit_code);
        if code != Some(3) {
            return Err(format!(
                "InspectTask after the exit reports {}, not exit code 3",
                code.map(|c| format!("exit code {c}"))
                    .unwrap_or_else(|| "no result".into())
            ));
        }
        let (s, c) = (
            t.started_at.unwrap_or_default(),
            t.completed_at.unwrap_or_default(),
        );
        if (c.seconds, c.nanos) < (s.seconds, s.nanos) {
            return Err(format!(
                "completed_at {} is before started_at {}",
                plain::timestamp(&c),
                plain::timestamp(&s)
            ));
        }
        Ok("EXITED with exit code 3, completed_at after started_at".into())
    });
    ctx.report.record("lifecycle.inspect_exited", result);

    let started = Instant::now();
    let again = wait_task(client.clone(), id.clone(), ctx.patience).await;
    let result = match again {
        Ok((r, e)) if r.exit_code == 3 && e.is_empty() => Ok(format!(
            "WaitTask after the exit answered in {} ms",
            started.elapsed().as_millis()
        )),
        Ok((r, e)) => Err(format!(
            "WaitTask after the exit returned {} instead of the exit code 3: Nomad waits again after a client restart and would record a different result",
            plain::wait_answer(Some(&r), &e)
        )),
        Err(e) => Err(format!(
            "{e}: WaitTask must answer at once for an exited task until DestroyTask"
        )),
    };
    ctx.report.record("lifecycle.wait_after_exit", result);

    let destroyed = rpc(
        ctx.patience,
        "DestroyTask",
        client.destroy_task(DestroyTaskRequest {
            task_id: id.clone(),
            force: true,
        }),
    )
    .await;
    let result = match destroyed {
        Err(e) => Err(format!(
            "{e}: Nomad ignores the error but the driver keeps the task's state"
        )),
        Ok(_) => {
            let after = client
                .inspect_task(InspectTaskRequest {
                    task_id: id.clone(),
                })
                .await;
            match after {
                Ok(_) => Err("InspectTask still knows the task after DestroyTask: the driver keeps state for every task Nomad ever ran".into()),
                Err(_) => Ok("DestroyTask removed the exited task".into()),
            }
        }
    };
    ctx.report.record("lifecycle.destroy_exited", result);
}

/// Waits until none of `pids` is alive (pidfd + poll, no polling loop).
pub(crate) async fn wait_gone(pids: Vec<i32>, timeout: Duration) -> Vec<i32> {
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + timeout;
        pids.into_iter()
            .filter(|&pid| {
                // SAFETY: plain syscall; the returned descriptor is checked and closed.
                let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
                if fd < 0 {
                    return false;
                }
                let mut pfd = libc::pollfd {
                    fd: fd as i32,
                    events: libc::POLLIN,
                    revents: 0,
                };
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
                // SAFETY: one valid pollfd; the descriptor is closed right after.
                let n = unsafe { libc::poll(&mut pfd, 1, ms) };
                unsafe { libc::close(fd as i32) };
                n != 1
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

fn killed(r: &ExitResult) -> bool {
    r.signal == libc::SIGKILL || r.exit_code == 128 + libc::SIGKILL
}

pub(crate) async fn stop(ctx: &mut Ctx) {
    let Some(mut client) = ctx.client() else {
        return;
    };

    // A task that handles the signal and exits by itself.
    let script = "trap 'echo got-TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done";
    let result = async {
        let (fx, _) = ctx.start(&mut client, "stop-trap", script).await?;
        let id = fx.config.id.clone();
        if !fx.stdout.wait_for("ready", ctx.patience).await {
            return Err(format!("the task never printed \"ready\"; {}", fx.output()));
        }
        let waiter = spawn_wait(ctx, &client, &id);
        let req = StopTaskRequest {
            task_id: id.clone(),
            timeout: Some(prost_types_duration(ctx.patience)),
            signal: "SIGTERM".into(),
        };
        rpc(ctx.patience * 2, "StopTask", client.stop_task(req)).await.map_err(|e| {
            format!("{e}: Nomad retries StopTask up to 5 times, then the task is left running")
        })?;
        let (res, err) = join_wait(waiter).await?;
        ctx.destroy(&mut client, &id).await;
        if res.exit_code == 7 && res.signal == 0 {
            Ok("SIGTERM delivered; the task handled it and exited with its own code 7".into())
        } else if killed(&res) {
            Err(format!(
                "the task was killed ({}) although it exits within the kill_timeout on SIGTERM: jobs lose their graceful shutdown; {}",
                plain::exit(&res),
                fx.output()
            ))
        } else {
            Err(format!(
                "StopTask with signal SIGTERM ended the task with {}, not with the exit code 7 it gives on SIGTERM: the job's kill_signal is not honoured; {}",
                plain::wait_answer(Some(&res), &err),
                fx.output()
            ))
        }
    }
    .await;
    ctx.report.record("stop.signal_honoured", result);

    // A task that ignores the signal: force-kill after the timeout.
    let script = "trap '' TERM; echo ready; while :; do sleep 0.1; done";
    let timeout = Duration::from_secs(2);
    let result = async {
        let (fx, _) = ctx.start(&mut client, "stop-ignore", script).await?;
        let id = fx.config.id.clone();
        if !fx.stdout.wait_for("ready", ctx.patience).await {
            return Err(format!("the task never printed \"ready\"; {}", fx.output()));
        }
        let waiter = spawn_wait(ctx, &client, &id);
        let req = StopTaskRequest {
            task_id: id.clone(),
            timeout: Some(prost_types_duration(timeout)),
            signal: "SIGTERM".into(),
        };
        let started = Instant::now();
        rpc(ctx.patience + timeout, "StopTask", client.stop_task(req))
            .await
            .map_err(|e| format!("{e}: the task is never killed"))?;
        let took = started.elapsed();
        // The waiter has the suite's patience of its own.
        let (res, _) = match join_wait(waiter).await {
            Ok(r) => r,
            Err(e) => {
                let alive = alloc_processes(&fx.config.alloc_id);
                ctx.destroy(&mut client, &id).await;
                return Err(format!(
                    "StopTask returned but the task is still running ({}; {e}): a task that ignores its kill_signal is never stopped and the allocation never stops",
                    plain::pids(&alive)
                ));
            }
        };
        let pids = alloc_processes(&fx.config.alloc_id);
        let left = wait_gone(pids, ctx.patience).await;
        ctx.destroy(&mut client, &id).await;
        if took < timeout / 2 {
            return Err(format!(
                "StopTask returned after {} ms with a kill timeout of {} ms: the task did not get its kill_timeout",
                took.as_millis(),
                timeout.as_millis()
            ));
        }
        if !left.is_empty() {
            return Err(format!(
                "{} of the task still alive after StopTask: a task that ignores its kill_signal is never stopped",
                plain::pids(&left)
            ));
        }
        if !killed(&res) {
            return Err(format!(
                "the task was force-killed but WaitTask reports {}; Nomad expects signal 9 / exit code 137",
                plain::exit(&res)
            ));
        }
        Ok(format!(
            "StopTask killed the task after the {} ms timeout (returned after {} ms); WaitTask reports {}",
            timeout.as_millis(),
            took.as_millis(),
            plain::exit(&res)
        ))
    }
    .await;
    ctx.report.record("stop.timeout_force_kill", result);
}

pub(crate) fn prost_types_duration(d: Duration) -> nomad_plugin_proto::prost_types::Duration {
    nomad_plugin_proto::prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

pub(crate) async fn destroy(ctx: &mut Ctx) {
    let Some(mut client) = ctx.client() else {
        return;
    };
    let result = async {
        let (fx, _) = ctx.start(&mut client, "destroy", FOREVER).await?;
        let id = fx.config.id.clone();
        if !fx.stdout.wait_for("ready", ctx.patience).await {
            return Err(format!("the task never printed \"ready\"; {}", fx.output()));
        }
        let pids = alloc_processes(&fx.config.alloc_id);
        rpc(
            ctx.patience,
            "DestroyTask",
            client.destroy_task(DestroyTaskRequest {
                task_id: id.clone(),
                force: true,
            }),
        )
        .await
        .map_err(|e| format!("{e} for a running task with force=true: Nomad ignores the error and the task keeps running, unmanaged"))?;
        let left = wait_gone(pids.clone(), ctx.patience).await;
        if !left.is_empty() {
            return Err(format!(
                "{} still run after DestroyTask(force=true): Nomad forgets the task, which keeps running unmanaged",
                plain::pids(&left)
            ));
        }
        if client
            .inspect_task(InspectTaskRequest { task_id: id })
            .await
            .is_ok()
        {
            return Err("InspectTask still knows the task after DestroyTask: the driver keeps state for destroyed tasks".into());
        }
        Ok(format!(
            "DestroyTask(force) killed the running task ({} processes) and forgot it",
            pids.len()
        ))
    }
    .await;
    ctx.report.record("destroy.force_running", result);
}

pub(crate) async fn stats(ctx: &mut Ctx) {
    let Some(mut client) = ctx.client() else {
        return;
    };
    let interval = Duration::from_millis(300);
    let wanted = 4;
    let result = async {
        let (fx, _) = ctx.start(&mut client, "stats", FOREVER).await?;
        let id = fx.config.id.clone();
        wait_running(&mut client, &id, ctx.patience).await?;
        let mut c = client.clone();
        let req = TaskStatsRequest {
            task_id: id.clone(),
            collection_interval: Some(prost_types_duration(interval)),
        };
        let watch: StreamWatch<TaskStatsResponse> =
            StreamWatch::start(async move { c.task_stats(req).await });
        let got = watch.wait_count(wanted, ctx.patience).await;
        let items = watch.items();
        drop(watch);
        ctx.destroy(&mut client, &id).await;
        for (_, m) in &items {
            let Some(stats) = &m.stats else {
                return Err("a TaskStats message without `stats`: Nomad's client dereferences it and the agent crashes".into());
            };
            if stats.agg_resource_usage.is_none() {
                return Err("TaskStats sent stats without agg_resource_usage: Nomad's client panics on a nil agg_resource_usage and the agent crashes".into());
            }
            match &stats.timestamp {
                None => return Err("TaskStats sent stats without a timestamp: Nomad drops the message with an error log".into()),
                Some(t) if t.seconds <= 0 || !(0..1_000_000_000).contains(&t.nanos) => {
                    return Err(format!("TaskStats timestamp {} is not a valid time: Nomad drops the message", plain::timestamp(t)))
                }
                Some(_) => {}
            }
        }
        if !got {
            return Err(format!(
                "only {} TaskStats messages within {:?} at a {} ms interval: Nomad shows no resource usage for the task",
                items.len(),
                ctx.patience,
                interval.as_millis()
            ));
        }
        let stamps: Vec<_> = items
            .iter()
            .filter_map(|(_, m)| m.stats.as_ref()?.timestamp.as_ref().map(|t| (t.seconds, t.nanos)))
            .collect();
        if stamps.windows(2).any(|w| w[1] < w[0]) {
            let shown: Vec<String> = stamps
                .iter()
                .map(|(seconds, nanos)| {
                    plain::timestamp(&nomad_plugin_proto::prost_types::Timestamp {
                        seconds: *seconds,
                        nanos: *nanos,
                    })
                })
                .collect();
            return Err(format!("TaskStats timestamps go backwards: {}", shown.join(", ")));
        }
        // Only a lower bound: load can delay messages, never hasten them.
        let span = items[wanted - 1].0.duration_since(items[0].0);
        let floor = interval * (wanted as u32 - 1) / 2;
        if span < floor {
            return Err(format!(
                "{wanted} TaskStats messages within {} ms at a requested interval of {} ms: the driver ignores collection_interval and floods the client",
                span.as_millis(),
                interval.as_millis()
            ));
        }
        let last = items[wanted - 1].1.stats.as_ref().and_then(|s| s.agg_resource_usage.clone());
        Ok(format!(
            "{wanted} messages over {} ms, each with agg_resource_usage and a timestamp; last usage: {}",
            span.as_millis(),
            plain::usage(last.as_ref())
        ))
    }
    .await;
    ctx.report.record("stats.stream", result);
}

pub(crate) async fn signal(ctx: &mut Ctx) {
    if !ctx.caps.send_signals {
        ctx.report
            .skip("signal.delivered", "Capabilities says send_signals = false");
        return;
    }
    let Some(mut client) = ctx.client() else {
        return;
    };
    let script = "trap 'echo got-USR1' USR1; echo ready; while :; do sleep 0.1; done";
    let result = async {
        let (fx, _) = ctx.start(&mut client, "signal", script).await?;
        let id = fx.config.id.clone();
        if !fx.stdout.wait_for("ready", ctx.patience).await {
            return Err(format!("the task never printed \"ready\"; {}", fx.output()));
        }
        let sent = rpc(
            ctx.patience,
            "SignalTask",
            client.signal_task(SignalTaskRequest {
                task_id: id.clone(),
                signal: "SIGUSR1".into(),
            }),
        )
        .await;
        let seen = match sent {
            Ok(_) => fx.stdout.wait_for("got-USR1", ctx.patience).await,
            Err(e) => {
                ctx.destroy(&mut client, &id).await;
                return Err(format!(
                    "{e}: template change_signal, `nomad alloc signal` and identity renewals fail although Capabilities says send_signals = true"
                ));
            }
        };
        let still = wait_running(&mut client, &id, ctx.patience).await;
        ctx.destroy(&mut client, &id).await;
        if !seen {
            return Err(format!(
                "SignalTask(SIGUSR1) answered OK but the task never saw the signal: `nomad alloc signal` and template change_signal silently do nothing; {}",
                fx.output()
            ));
        }
        still.map_err(|e| format!("the task stopped after a signal it handles: {e}"))?;
        Ok("SIGUSR1 reached the task, which handled it and kept running".into())
    }
    .await;
    ctx.report.record("signal.delivered", result);
}

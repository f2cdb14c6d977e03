//! An agent restart with the plugin left running: the Nomad agent dies
//! without killing its driver plugin (its ends of the plugin's stdout and
//! stderr pipes close with it), and the new agent reattaches from the
//! address and pid it stored (`drivermanager/instance.go`, `dispense`):
//! `PluginInfo`, `Init` again without `SetConfig`, `Fingerprint` and
//! `TaskEvents` reopened, `StreamStdio` opened again, `RecoverTask` for the
//! task it had, then stats and wait resume, a new task runs, and the plugin
//! still shuts down cleanly.

use nomad_plugin_proto::go_plugin::grpc_stdio_client::GrpcStdioClient;
use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_proto::nomad::base::PluginInfoRequest;
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::{
    FingerprintRequest, InitRequest, RecoverTaskRequest, TaskEventsRequest, TaskHandle,
    TaskStatsRequest, WaitTaskRequest,
};

use super::instance::{StreamEnd, StreamWatch};
use super::{rpc, wait_running, Ctx};

const SCRIPT: &str =
    "echo ready; while [ ! -e \"$NOMAD_ALLOC_DIR/release\" ]; do sleep 0.1; done; \
     echo released; exit 7";

const CHECKS: &[&str] = &[
    "reattach.connect",
    "reattach.init_again",
    "reattach.fingerprint",
    "reattach.recover_task",
    "reattach.stats",
    "reattach.wait_exit_code",
    "reattach.new_task",
    "reattach.still_serving",
    "reattach.stdio",
    "reattach.clean_shutdown",
];

fn skip_rest(ctx: &mut Ctx, from: &str, why: &str) {
    let mut skipping = false;
    for c in CHECKS {
        if *c == from {
            skipping = true;
        }
        if skipping {
            ctx.report.skip(*c, why);
        }
    }
}

pub(crate) async fn reattach(ctx: &mut Ctx) {
    // The harness stays alive to the end (dropping it removes its work
    // dir); its instance is taken out so the agent's death can be played.
    let mut harness = match ctx.launch_instance().await {
        Ok(h) => h,
        Err(e) => {
            ctx.report.record("reattach.setup", Err(e));
            return;
        }
    };
    let Some(first) = harness.take_instance() else {
        ctx.report
            .record("reattach.setup", Err("the plugin is not running".into()));
        return;
    };
    let mut client = first.client.clone();
    let (fx, resp) = match ctx.start(&mut client, "reattach", SCRIPT).await {
        Ok(x) => x,
        Err(e) => {
            let _ = first.plugin.kill().await;
            ctx.report.record("reattach.setup", Err(e));
            return;
        }
    };
    let id = fx.config.id.clone();
    let ready = fx.stdout.wait_for("ready", ctx.patience).await;
    let running = wait_running(&mut client, &id, ctx.patience).await;
    if !ready || running.is_err() {
        ctx.destroy(&mut client, &id).await;
        let _ = first.plugin.kill().await;
        ctx.report.record(
            "reattach.setup",
            Err(format!(
                "the task did not get going before the agent went away ({}); {}",
                running.err().unwrap_or_default(),
                fx.output()
            )),
        );
        return;
    }
    let handle: TaskHandle = resp.handle.clone().unwrap_or_default();

    // The agent dies: its connection, streams and pipe ends go away; the
    // plugin process does not.
    drop(client);
    let super::instance::Instance {
        plugin,
        client,
        fingerprints,
        events,
    } = first;
    drop((client, fingerprints, events));
    let detached = plugin.detach().await;

    let channel = match detached.reattach().await {
        Ok(c) => {
            ctx.report.record(
                "reattach.connect",
                Ok(format!(
                    "connected again to {} (pid {}) without a handshake",
                    match &detached.address().endpoint {
                        crate::launch::Endpoint::Unix(p) => p.display().to_string(),
                        crate::launch::Endpoint::Tcp(a) => a.clone(),
                    },
                    detached
                        .pid()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "unknown".into())
                )),
            );
            c
        }
        Err(e) => {
            ctx.report.record(
                "reattach.connect",
                Err(format!(
                    "the restarted agent cannot reattach ({e}): it launches a new plugin, and the running task must be recovered by a process that never started it"
                )),
            );
            skip_rest(ctx, "reattach.init_again", "reattach failed");
            fx.release().ok();
            return;
        }
    };
    let mut base = BasePluginClient::new(channel.clone());
    let mut client = DriverClient::new(channel.clone());
    let info = rpc(
        ctx.patience,
        "PluginInfo",
        base.plugin_info(PluginInfoRequest {}),
    )
    .await;
    let init = match info {
        Err(e) => Err(format!("{e} after reattach: the dispense fails")),
        Ok(_) => match tokio::time::timeout(ctx.patience, client.init(InitRequest {})).await {
            Ok(Ok(_)) => Ok("Init answered OK again, without a new SetConfig".to_string()),
            Ok(Err(s)) if s.code() == tonic::Code::Unimplemented => {
                Ok("Init is not implemented (Nomad ignores that)".to_string())
            }
            Ok(Err(s)) => Err(format!(
                "a second Init (after reattach, no SetConfig) failed ({:?}: {}): Nomad kills the plugin and every running task must be recovered by a new one",
                s.code(),
                s.message()
            )),
            Err(_) => Err(format!("Init did not answer within {:?} after reattach", ctx.patience)),
        },
    };
    ctx.report.record("reattach.init_again", init);

    let mut fp = client.clone();
    let fingerprints =
        StreamWatch::start(async move { fp.fingerprint(FingerprintRequest {}).await });
    let mut ev = client.clone();
    let _events = StreamWatch::start(async move { ev.task_events(TaskEventsRequest {}).await });
    let got = fingerprints
        .wait_until(ctx.patience, |items, end| {
            !items.is_empty() || end.is_some()
        })
        .await;
    let result = match (got, fingerprints.items().first(), fingerprints.end()) {
        (true, Some(_), _) => Ok("a reopened Fingerprint stream sends a fingerprint".to_string()),
        (_, _, Some((_, end))) => Err(format!(
            "the reopened Fingerprint stream {end} before its first fingerprint: the driver is marked unhealthy after the agent restart"
        )),
        _ => Err(format!(
            "no fingerprint within {:?} after reattach: the node's driver stays undetected",
            ctx.patience
        )),
    };
    ctx.report.record("reattach.fingerprint", result);

    // go-plugin's client opens StreamStdio without waiting for an answer
    // (a Go server sends its headers with the first output); only an error
    // status would be worth reporting, so it is judged at the end.
    let mut stdio_client = GrpcStdioClient::new(channel.clone());
    let stdio = StreamWatch::start(async move { stdio_client.stream_stdio(()).await });

    let recover = RecoverTaskRequest {
        task_id: String::new(),
        handle: Some(handle),
    };
    let result = rpc(ctx.patience, "RecoverTask", client.recover_task(recover))
        .await
        .map(|_| "RecoverTask of the task the plugin still runs answers OK".to_string())
        .map_err(|e| {
            format!(
                "{e} after an agent restart: Nomad destroys the running task (DestroyTask force)"
            )
        });
    let recovered = ctx.report.record("reattach.recover_task", result);
    if !recovered {
        skip_rest(ctx, "reattach.stats", "RecoverTask failed");
        ctx.destroy(&mut client, &id).await;
        let _ = detached.kill(channel).await;
        return;
    }

    let mut stats_client = client.clone();
    let req = TaskStatsRequest {
        task_id: id.clone(),
        collection_interval: Some(super::tasks::prost_types_duration(
            std::time::Duration::from_secs(1),
        )),
    };
    let result = match tokio::time::timeout(ctx.patience, async {
        let mut s = stats_client.task_stats(req).await?.into_inner();
        s.message().await
    })
    .await
    {
        Ok(Ok(Some(m)))
            if m.stats
                .as_ref()
                .is_some_and(|s| s.agg_resource_usage.is_some()) =>
        {
            Ok("TaskStats resumes after reattach".to_string())
        }
        Ok(Ok(Some(_))) => Err(
            "TaskStats after reattach has no aggregate usage: the Nomad client dereferences it"
                .into(),
        ),
        Ok(Ok(None)) => Err("TaskStats after reattach ended before its first message".into()),
        Ok(Err(s)) => Err(format!(
            "TaskStats after reattach failed ({:?}: {})",
            s.code(),
            s.message()
        )),
        Err(_) => Err(format!(
            "no TaskStats message within {:?} after reattach",
            ctx.patience
        )),
    };
    ctx.report.record("reattach.stats", result);

    let mut waiter = client.clone();
    let wid = id.clone();
    let patience = ctx.patience;
    let wait = tokio::spawn(async move {
        rpc(
            patience,
            "WaitTask",
            waiter.wait_task(WaitTaskRequest { task_id: wid }),
        )
        .await
    });
    let result = match fx.release() {
        Err(e) => Err(format!("suite error: {e}")),
        Ok(()) => match wait.await {
            Err(e) => Err(format!("suite error: {e}")),
            Ok(Err(e)) => Err(format!(
                "{e} after reattach: Nomad never learns how the task ended"
            )),
            Ok(Ok(r)) => match r.result {
                Some(res) if res.exit_code == 7 && r.err.is_empty() => {
                    Ok("WaitTask after reattach returned the real exit code 7".into())
                }
                other => Err(format!(
                    "the task exited with code 7, but WaitTask after reattach returned {}; {}",
                    super::plain::wait_answer(other.as_ref(), &r.err),
                    fx.output()
                )),
            },
        },
    };
    ctx.report.record("reattach.wait_exit_code", result);
    ctx.destroy(&mut client, &id).await;

    let result = match ctx
        .start(&mut client, "reattach-new", "echo new; exit 0")
        .await
    {
        Err(e) => Err(format!("a new task after reattach: {e}")),
        Ok((nfx, _)) => {
            let nid = nfx.config.id.clone();
            let r = rpc(
                ctx.patience,
                "WaitTask",
                client.wait_task(WaitTaskRequest {
                    task_id: nid.clone(),
                }),
            )
            .await;
            ctx.destroy(&mut client, &nid).await;
            match r {
                Ok(w)
                    if w.result.as_ref().is_some_and(|x| x.exit_code == 0) && w.err.is_empty() =>
                {
                    Ok("a task started after reattach runs and exits 0".to_string())
                }
                Ok(w) => Err(format!(
                    "a task started after reattach ended with {}; {}",
                    super::plain::wait_answer(w.result.as_ref(), &w.err),
                    nfx.output()
                )),
                Err(e) => Err(format!("{e}; {}", nfx.output())),
            }
        }
    };
    ctx.report.record("reattach.new_task", result);

    let mut caps = client.clone();
    let result = match tokio::time::timeout(
        ctx.patience,
        caps.capabilities(nomad_plugin_proto::nomad::drivers::CapabilitiesRequest {}),
    )
    .await
    {
        Ok(Ok(_)) => Ok("still serving after its stderr reader went away".to_string()),
        Ok(Err(s)) => Err(format!(
            "the plugin stopped serving after the agent that read its stderr went away ({:?}: {})",
            s.code(),
            s.message()
        )),
        Err(_) => Err("the plugin stopped answering after its stderr reader went away".to_string()),
    };
    ctx.report.record("reattach.still_serving", result);

    let result = match stdio.end() {
        None | Some((_, StreamEnd::Ok)) => {
            Ok("the new agent's StreamStdio was accepted (no error status)".to_string())
        }
        Some((_, StreamEnd::Status(s))) if s.code() == tonic::Code::Unimplemented => {
            Ok("StreamStdio is not implemented (go-plugin stops syncing)".to_string())
        }
        Some((_, end)) => Err(format!("the new agent's StreamStdio {end}")),
    };
    ctx.report.record("reattach.stdio", result);

    drop((
        client,
        caps,
        stats_client,
        base,
        stdio,
        fingerprints,
        _events,
    ));
    let mut detached = detached;
    if let Some(status) = detached.try_exited() {
        use std::os::unix::process::ExitStatusExt;
        let why = if status.signal() == Some(libc::SIGPIPE) {
            "killed by SIGPIPE: it wrote to the stderr pipe the old agent no longer reads (a Go plugin dies so on its first log line after an agent restart; Nomad then relaunches it and recovers every task)".to_string()
        } else {
            format!("it exited ({status})")
        };
        ctx.report.record(
            "reattach.clean_shutdown",
            Err(format!("the plugin was gone before Shutdown: {why}")),
        );
        return;
    }
    let result = match detached.kill(channel).await {
        Ok(k) if k.graceful => Ok(format!("GRPCController/Shutdown stopped it in {:?}", k.elapsed)),
        Ok(k) => Err(format!(
            "after reattach the plugin did not exit within 2 s of GRPCController/Shutdown and was SIGKILLed ({})",
            k.status
        )),
        Err(e) => Err(format!("suite error stopping the plugin: {e}")),
    };
    ctx.report.record("reattach.clean_shutdown", result);
}

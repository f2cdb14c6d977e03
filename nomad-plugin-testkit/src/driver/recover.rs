//! Recovery after the plugin dies: Nomad's client re-dispenses the driver
//! and calls `RecoverTask` with the handle it persisted from `StartTask`;
//! the task must have kept running and `WaitTask` must still deliver its
//! real exit code.

use nomad_plugin_proto::nomad::drivers::{RecoverTaskRequest, TaskHandle, WaitTaskRequest};

use super::fixture::alloc_processes;
use super::{inspect_rules, plain, rpc, wait_running, Ctx};

const SCRIPT: &str =
    "echo ready; while [ ! -e \"$NOMAD_ALLOC_DIR/release\" ]; do sleep 0.1; done; \
     echo released; exit 9";

pub(crate) async fn recover(ctx: &mut Ctx) {
    // The first instance: start the task, then SIGKILL the plugin.
    let mut harness = match ctx.launch_instance().await {
        Ok(i) => i,
        Err(e) => {
            ctx.report.record("recover.setup", Err(e));
            return;
        }
    };
    let mut client = match harness.client() {
        Ok(c) => c,
        Err(e) => {
            ctx.report.record("recover.setup", Err(e.to_string()));
            return;
        }
    };
    let (fx, resp) = match ctx.start(&mut client, "recover", SCRIPT).await {
        Ok(x) => x,
        Err(e) => {
            let _ = harness.shutdown().await;
            ctx.report.record("recover.setup", Err(e));
            return;
        }
    };
    let id = fx.config.id.clone();
    let ready = fx.stdout.wait_for("ready", ctx.patience).await;
    let running = wait_running(&mut client, &id, ctx.patience).await;
    if !ready || running.is_err() {
        let _ = harness.shutdown().await;
        ctx.report.record(
            "recover.setup",
            Err(format!(
                "the task did not get going before the plugin was killed ({}); {}",
                running.err().unwrap_or_default(),
                fx.output()
            )),
        );
        return;
    }
    // What Nomad persisted (it would persist a missing handle too).
    let handle: TaskHandle = resp.handle.clone().unwrap_or_default();
    drop(client);

    if let Err(e) = harness.kill_plugin().await {
        ctx.report.record(
            "recover.setup",
            Err(format!("suite error: could not SIGKILL the plugin ({e})")),
        );
        return;
    }

    let survivors = alloc_processes(&fx.config.alloc_id);
    let survived = !survivors.is_empty();
    ctx.report.record(
        "recover.task_survives_plugin_death",
        if survived {
            Ok(format!("task processes ({}) kept running after SIGKILL of the plugin", plain::pids(&survivors)))
        } else {
            Err(format!(
                "no process of the task is left after SIGKILL of the plugin: every plugin crash or upgrade kills the node's workloads; {}",
                fx.output()
            ))
        },
    );
    if !survived {
        return;
    }

    // The second instance: recover, inspect, then wait for the real exit.
    if let Err(e) = harness.relaunch().await {
        ctx.report
            .record("recover.recover_task", Err(e.to_string()));
        return;
    }
    let mut client = match harness.client() {
        Ok(c) => c,
        Err(e) => {
            ctx.report
                .record("recover.recover_task", Err(e.to_string()));
            return;
        }
    };
    let recover = |handle: TaskHandle| RecoverTaskRequest {
        task_id: String::new(),
        handle: Some(handle),
    };
    let result = rpc(
        ctx.patience,
        "RecoverTask",
        client.recover_task(recover(handle.clone())),
    )
    .await
    .map(|_| "RecoverTask accepted the handle StartTask returned".to_string())
    .map_err(|e| {
        format!("{e}: Nomad destroys the task (DestroyTask force) and restarts it elsewhere; a plugin crash costs every running task")
    });
    let recovered = ctx.report.record("recover.recover_task", result);

    if recovered {
        let result = wait_running(&mut client, &id, ctx.patience)
            .await
            .and_then(|r| {
                inspect_rules(&r)?;
                Ok("InspectTask reports the recovered task RUNNING".into())
            })
            .map_err(|e| format!("after RecoverTask: {e}"));
        ctx.report.record("recover.inspect_running", result);

        let result = rpc(
            ctx.patience,
            "RecoverTask",
            client.recover_task(recover(handle.clone())),
        )
        .await
        .map(|_| "a second RecoverTask for a tracked task answers OK".to_string())
        .map_err(|e| {
            format!("{e} for a task it already tracks: Nomad recovers again after a client restart and would destroy the task")
        });
        ctx.report.record("recover.idempotent", result);

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
                    "{e} after recovery: Nomad never learns how the task ended"
                )),
                Ok(Ok(r)) => match r.result {
                    Some(res) if res.exit_code == 9 && r.err.is_empty() => {
                        Ok("WaitTask after recovery returned the real exit code 9".into())
                    }
                    other => Err(format!(
                        "the recovered task exited with code 9, but WaitTask returned {}: Nomad records the wrong exit and applies the restart policy to it; {}",
                        plain::wait_answer(other.as_ref(), &r.err),
                        fx.output()
                    )),
                },
            },
        };
        ctx.report.record("recover.wait_exit_code", result);
    } else {
        ctx.report
            .skip("recover.inspect_running", "RecoverTask failed");
        ctx.report.skip("recover.idempotent", "RecoverTask failed");
        ctx.report
            .skip("recover.wait_exit_code", "RecoverTask failed");
    }
    ctx.destroy(&mut client, &id).await;
    drop(client);
    let _ = harness.shutdown().await;
}

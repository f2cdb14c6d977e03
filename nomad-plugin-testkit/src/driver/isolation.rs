//! The `isolation` group, for drivers that report `fs_isolation = CHROOT`
//! (Nomad's exec driver): the task sees its task directory as `/` and no
//! host file outside its `chroot_env`, and exec runs inside the same
//! isolation (Nomad's `TestExecFSIsolation`: a file made with `mktemp` in
//! the task is not on the host at that path). Skipped for other drivers.

use nomad_plugin_proto::nomad::drivers::driver_capabilities::FsIsolation;
use nomad_plugin_proto::nomad::drivers::{ExecTaskRequest, StartTaskRequest};

use super::tasks::prost_types_duration;
use super::{rpc, wait_running, Ctx};

pub(crate) async fn isolation(ctx: &mut Ctx) {
    let names = ["isolation.task_dir_is_root", "isolation.exec_inside"];
    if FsIsolation::try_from(ctx.caps.fs_isolation) != Ok(FsIsolation::Chroot) {
        for n in names {
            ctx.report
                .skip(n, "Capabilities says fs_isolation is not CHROOT");
        }
        return;
    }
    let Some(mut client) = ctx.client() else {
        return;
    };
    // A host file outside the task directory (and outside any chroot_env).
    let marker = ctx.work_dir.join(format!(
        "host-only-{:08x}",
        super::fixture::random_u64() as u32
    ));
    if let Err(e) = std::fs::write(&marker, b"host\n") {
        ctx.report.record(
            names[0],
            Err(format!("the suite cannot write {}: {e}", marker.display())),
        );
        return;
    }
    let m = marker.display().to_string();
    let script = format!(
        "cat /local/probe; test -d /secrets && test -d /alloc && test -d /tmp && echo dirs-ok; \
         test -e {m} && echo HOST-FILE-VISIBLE; echo ready; while :; do sleep 0.1; done"
    );
    let (first, second) = async {
        let fx = match ctx.fixture("iso", &script) {
            Ok(f) => f,
            Err(e) => return (Err(e.clone()), Err(e)),
        };
        let probe = fx.alloc_dir.join("iso").join("local").join("probe");
        if let Err(e) = std::fs::write(&probe, b"probe-from-the-task-dir\n") {
            let e = format!("the suite cannot write {}: {e}", probe.display());
            return (Err(e.clone()), Err(e));
        }
        let req = StartTaskRequest {
            task: Some(fx.config.clone()),
        };
        if let Err(e) = rpc(ctx.patience, "StartTask", client.start_task(req)).await {
            let e = format!("{e}; {}", fx.output());
            return (Err(e.clone()), Err(e));
        }
        let id = fx.config.id.clone();
        if let Err(e) = wait_running(&mut client, &id, ctx.patience).await {
            ctx.destroy(&mut client, &id).await;
            return (Err(e.clone()), Err(e));
        }
        let ready = fx.stdout.wait_for("ready", ctx.patience).await;
        let out = fx.stdout.text();
        let first = if !ready {
            Err(format!("the task never printed \"ready\"; {}", fx.output()))
        } else if out.contains("HOST-FILE-VISIBLE") {
            Err(format!(
                "the task sees the host file {m}, outside its task directory and chroot_env: it is not in a chroot"
            ))
        } else if !out.contains("probe-from-the-task-dir") || !out.contains("dirs-ok") {
            Err(format!(
                "the task does not see its task directory as / (no /local/probe, or no /secrets, /alloc, /tmp): {}",
                fx.output()
            ))
        } else {
            Ok("the task sees its task dir as / (local/, secrets/, alloc/, tmp/) and no host file outside chroot_env".to_string())
        };
        let req = ExecTaskRequest {
            task_id: id.clone(),
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("f=$(mktemp) && echo made=$f; cat /local/probe; test -e {m} && echo HOST-FILE-VISIBLE; true"),
            ],
            timeout: Some(prost_types_duration(ctx.patience)),
        };
        let answer = rpc(ctx.patience * 2, "ExecTask", client.exec_task(req)).await;
        let task_tmp = fx.alloc_dir.join("iso");
        ctx.destroy(&mut client, &id).await;
        let second = match answer {
            Err(e) => Err(e),
            Ok(r) => {
                let text = String::from_utf8_lossy(&r.stdout).into_owned();
                let made = text
                    .lines()
                    .find_map(|l| l.strip_prefix("made="))
                    .unwrap_or("")
                    .to_string();
                if made.is_empty() {
                    Err(format!("mktemp inside the task failed: stdout {text:?}, stderr {:?}", String::from_utf8_lossy(&r.stderr)))
                } else if std::path::Path::new(&made).exists() && !made.starts_with(&*task_tmp.to_string_lossy()) {
                    Err(format!(
                        "a file exec made at {made} inside the task is on the host at that path: `nomad alloc exec` runs outside the task's chroot"
                    ))
                } else if text.contains("HOST-FILE-VISIBLE") || !text.contains("probe-from-the-task-dir") {
                    Err(format!("exec does not run in the task's chroot: stdout {text:?}"))
                } else {
                    Ok(format!("exec ran inside the chroot ({made} is the task's, not the host's)"))
                }
            }
        };
        (first, second)
    }
    .await;
    let _ = std::fs::remove_file(&marker);
    ctx.report.record(names[0], first);
    ctx.report.record(names[1], second);
}

//! What a driver must refuse: task ids it does not know, and task configs
//! that do not decode. Either way it must keep serving.

use std::time::Duration;

use futures::channel::mpsc;
use nomad_plugin_proto::nomad::drivers::exec_task_streaming_request::Setup;
use nomad_plugin_proto::nomad::drivers::{
    DestroyTaskRequest, ExecTaskRequest, ExecTaskStreamingRequest, InspectTaskRequest,
    RecoverTaskRequest, SignalTaskRequest, StartTaskRequest, StopTaskRequest, TaskConfig,
    TaskHandle, TaskStatsRequest, WaitTaskRequest,
};
use nomad_plugin_proto::nomad::structs::RecoverableError;
use prost::Message;

use super::fixture::{alloc_processes, task_id, uuid};
use super::tasks::prost_types_duration;
use super::Ctx;

/// `google.rpc.Status`, the payload of the `grpc-status-details-bin` trailer.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<nomad_plugin_proto::prost_types::Any>,
}

/// Whether the status carries `RecoverableError{recoverable: true}` as its
/// first detail, the only place Nomad's client looks.
fn recoverable(status: &tonic::Status) -> bool {
    let Ok(rpc) = RpcStatus::decode(status.details()) else {
        return false;
    };
    rpc.details.first().is_some_and(|any| {
        any.type_url
            .ends_with("hashicorp.nomad.plugins.shared.structs.RecoverableError")
            && RecoverableError::decode(any.value.as_slice()).is_ok_and(|r| r.recoverable)
    })
}

/// The outcome of one call: OK, or the error status.
type Outcome = Result<(), tonic::Status>;

async fn settle<T>(
    patience: Duration,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Option<Outcome> {
    tokio::time::timeout(patience, call)
        .await
        .ok()
        .map(|r| r.map(|_| ()))
}

pub(crate) async fn unknown_task(ctx: &mut Ctx) {
    let rpcs = [
        "wait_task",
        "stop_task",
        "destroy_task",
        "inspect_task",
        "task_stats",
        "signal_task",
        "exec_task",
        "exec_task_streaming",
        "recover_task",
    ];
    for name in rpcs {
        let Some(mut client) = ctx.client() else {
            return;
        };
        let id = task_id(&uuid(), "ghost");
        let p = ctx.patience;
        let outcome: Option<Outcome> = match name {
            "wait_task" => {
                settle(
                    p,
                    client.wait_task(WaitTaskRequest {
                        task_id: id.clone(),
                    }),
                )
                .await
            }
            "stop_task" => {
                settle(
                    p,
                    client.stop_task(StopTaskRequest {
                        task_id: id.clone(),
                        timeout: Some(prost_types_duration(Duration::from_secs(1))),
                        signal: "SIGTERM".into(),
                    }),
                )
                .await
            }
            "destroy_task" => {
                settle(
                    p,
                    client.destroy_task(DestroyTaskRequest {
                        task_id: id.clone(),
                        force: true,
                    }),
                )
                .await
            }
            "inspect_task" => {
                settle(
                    p,
                    client.inspect_task(InspectTaskRequest {
                        task_id: id.clone(),
                    }),
                )
                .await
            }
            "task_stats" => {
                let call = async {
                    let mut s = client
                        .task_stats(TaskStatsRequest {
                            task_id: id.clone(),
                            collection_interval: Some(prost_types_duration(Duration::from_secs(1))),
                        })
                        .await?
                        .into_inner();
                    s.message().await.map(|_| tonic::Response::new(()))
                };
                settle(p, call).await
            }
            "signal_task" => {
                settle(
                    p,
                    client.signal_task(SignalTaskRequest {
                        task_id: id.clone(),
                        signal: "SIGUSR1".into(),
                    }),
                )
                .await
            }
            "exec_task" => {
                settle(
                    p,
                    client.exec_task(ExecTaskRequest {
                        task_id: id.clone(),
                        command: vec!["/bin/true".into()],
                        timeout: Some(prost_types_duration(Duration::from_secs(5))),
                    }),
                )
                .await
            }
            "exec_task_streaming" => {
                let (tx, rx) = mpsc::unbounded();
                let _ = tx.unbounded_send(ExecTaskStreamingRequest {
                    setup: Some(Setup {
                        task_id: id.clone(),
                        command: vec!["/bin/true".into()],
                        tty: false,
                    }),
                    ..Default::default()
                });
                let call = async {
                    let mut s = client.exec_task_streaming(rx).await?.into_inner();
                    s.message().await.map(|_| tonic::Response::new(()))
                };
                let r = settle(p, call).await;
                drop(tx);
                r
            }
            _ => {
                // A handle for a task that never ran on this node.
                let handle = TaskHandle {
                    version: 1,
                    config: Some(TaskConfig {
                        id: id.clone(),
                        name: "ghost".into(),
                        ..Default::default()
                    }),
                    state: 1,
                    driver_state: b"not the driver's state".to_vec(),
                };
                settle(
                    p,
                    client.recover_task(RecoverTaskRequest {
                        task_id: id.clone(),
                        handle: Some(handle),
                    }),
                )
                .await
            }
        };
        let rpc_name = camel(name);
        let mut result = match outcome {
            None => Err(format!(
                "{rpc_name} for an unknown task id did not answer within {p:?}: the Nomad client call hangs"
            )),
            Some(Ok(())) if name == "recover_task" => Err(
                "RecoverTask accepted a handle for a task it cannot have (unknown id, foreign driver_state): Nomad believes a task runs that nothing runs, and never restarts it".into(),
            ),
            Some(Ok(())) => Err(format!(
                "{rpc_name} for an unknown task id succeeded: Nomad acts on a task that does not exist (an unknown id must fail, with a message that says the task was not found)"
            )),
            Some(Err(s)) if name == "recover_task" => Ok(format!("refused ({:?}: {})", s.code(), s.message())),
            Some(Err(s)) => {
                if s.code() == tonic::Code::NotFound
                    || s.message().to_ascii_lowercase().contains("not found")
                {
                    Ok(format!("{:?}: {}", s.code(), s.message()))
                } else {
                    Err(format!(
                        "{rpc_name} for an unknown task id failed with {:?}: {:?}, which does not say the task was not found: operators reading the Nomad log cannot tell a missing task from a broken driver",
                        s.code(),
                        s.message()
                    ))
                }
            }
        };
        if let Some(main) = &ctx.main {
            if let Err(e) = main.serving().await {
                result = Err(format!("after {rpc_name} for an unknown task id, {e}"));
                ctx.report.record(format!("unknown_task.{name}"), result);
                // Relaunch so the remaining RPCs are still checked.
                if !ctx.relaunch_if_dead().await {
                    return;
                }
                continue;
            }
        }
        ctx.report.record(format!("unknown_task.{name}"), result);
    }
}

fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

pub(crate) async fn malformed_config(ctx: &mut Ctx) {
    let cases: [(&str, &[u8]); 2] = [
        ("garbage", b"\xc1\xc1 this is not msgpack"),
        ("not_an_object", b"\xa5hello"),
    ];
    for (name, bytes) in cases {
        let Some(mut client) = ctx.client() else {
            return;
        };
        let mut fx = match ctx.fixture("malformed", "exit 0") {
            Ok(f) => f,
            Err(e) => {
                ctx.report
                    .record(format!("malformed_config.{name}"), Err(e));
                continue;
            }
        };
        fx.config.msgpack_driver_config = bytes.to_vec();
        let id = fx.config.id.clone();
        let outcome = settle(
            ctx.patience,
            client.start_task(StartTaskRequest {
                task: Some(fx.config.clone()),
            }),
        )
        .await;
        let mut result = match outcome {
            None => Err(format!(
                "StartTask with a malformed task config did not answer within {:?}: the task hangs in pending",
                ctx.patience
            )),
            Some(Ok(())) => {
                ctx.destroy(&mut client, &id).await;
                Err("StartTask accepted a task config that is not a msgpack object of its schema: the driver runs something the job did not ask for".into())
            }
            Some(Err(s)) if recoverable(&s) => Err(format!(
                "StartTask refused the malformed config with a RecoverableError(recoverable = true) ({:?}: {}): Nomad restarts the task again and again with a config that can never work",
                s.code(),
                s.message()
            )),
            Some(Err(s)) => Ok(format!(
                "refused with {:?}: {}{}",
                s.code(),
                s.message(),
                if s.code() == tonic::Code::InvalidArgument {
                    ""
                } else {
                    " (InvalidArgument would say best that the job is wrong)"
                }
            )),
        };
        if result.is_ok() {
            if let Some(main) = &ctx.main {
                if let Err(e) = main.serving().await {
                    result = Err(format!("after a malformed task config, {e}"));
                } else if client
                    .inspect_task(InspectTaskRequest {
                        task_id: id.clone(),
                    })
                    .await
                    .is_ok()
                {
                    result = Err("the refused task is still known to InspectTask: the driver leaks state for tasks that never started".into());
                } else if !alloc_processes(&fx.config.alloc_id).is_empty() {
                    result = Err("a process of the refused task is running".into());
                }
            }
        }
        ctx.report
            .record(format!("malformed_config.{name}"), result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recoverable_detail_is_read_from_the_first_detail() {
        let detail = |recoverable: bool| nomad_plugin_proto::prost_types::Any {
            type_url: "type.googleapis.com/hashicorp.nomad.plugins.shared.structs.RecoverableError"
                .into(),
            value: RecoverableError { recoverable }.encode_to_vec(),
        };
        let status = |details: Vec<_>| {
            let body = RpcStatus {
                code: 9,
                message: "m".into(),
                details,
            }
            .encode_to_vec();
            tonic::Status::with_details(tonic::Code::FailedPrecondition, "m", body.into())
        };
        assert!(recoverable(&status(vec![detail(true)])));
        assert!(!recoverable(&status(vec![detail(false)])));
        assert!(!recoverable(&status(vec![])));
        assert!(!recoverable(&tonic::Status::unknown("plain")));
        assert_eq!(camel("exec_task_streaming"), "ExecTaskStreaming");
    }
}

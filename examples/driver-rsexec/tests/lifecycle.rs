//! The reference driver through the testkit launcher, as a Nomad client
//! drives it: start, wait, stop, stats, exec, and recovery after the plugin
//! is killed with SIGKILL while a task runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nomad_plugin_proto::nomad::drivers as pb;
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::tonic::transport::Channel;
use nomad_plugin_testkit::launch::{Launcher, RunningPlugin};

const LONG: Duration = Duration::from_secs(60);

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rsexec-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

async fn launch(state: &Path) -> (RunningPlugin, DriverClient<Channel>) {
    let plugin = Launcher::nomad(env!("CARGO_BIN_EXE_rsexec"))
        .null_stdin()
        .launch()
        .await
        .expect("launch rsexec");
    let mut base = nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient::new(
        plugin.channel(),
    );
    let schema = base
        .config_schema(nomad_plugin_proto::nomad::base::ConfigSchemaRequest {})
        .await
        .expect("ConfigSchema")
        .into_inner()
        .spec
        .expect("agent spec");
    let spec = nomad_plugin_sdk::host::schema::from_proto(&schema).expect("spec");
    let hcl = format!("state_dir = {:?}\n", state.display().to_string());
    let msgpack = nomad_plugin_testkit::hcl::encode_config(&hcl, &spec).expect("encode");
    base.set_config(nomad_plugin_proto::nomad::base::SetConfigRequest {
        msgpack_config: msgpack,
        nomad_config: None,
        plugin_api_version: "v0.1.0".into(),
    })
    .await
    .expect("SetConfig");
    let client = DriverClient::new(plugin.channel());
    (plugin, client)
}

async fn task_config(
    client: &mut DriverClient<Channel>,
    dir: &Path,
    id: &str,
    hcl: &str,
) -> pb::TaskConfig {
    let schema = client
        .task_config_schema(pb::TaskConfigSchemaRequest {})
        .await
        .expect("TaskConfigSchema")
        .into_inner()
        .spec
        .expect("task spec");
    let spec = nomad_plugin_sdk::host::schema::from_proto(&schema).expect("spec");
    pb::TaskConfig {
        id: format!("alloc-1/{id}/0000beef"),
        name: id.into(),
        msgpack_driver_config: nomad_plugin_testkit::hcl::encode_config(hcl, &spec)
            .expect("encode"),
        alloc_dir: dir.display().to_string(),
        stdout_path: dir.join(format!("{id}.stdout")).display().to_string(),
        stderr_path: dir.join(format!("{id}.stderr")).display().to_string(),
        alloc_id: "alloc-1".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn start_wait_exit_code_and_output() {
    let dir = scratch("exit");
    let (plugin, mut client) = launch(&dir.join("state")).await;
    let cfg = task_config(
        &mut client,
        &dir,
        "exit",
        r#"command = "/bin/sh"
args = ["-c", "echo out; echo err >&2; exit 3"]"#,
    )
    .await;
    let started = client
        .start_task(pb::StartTaskRequest {
            task: Some(cfg.clone()),
        })
        .await
        .expect("StartTask")
        .into_inner();
    let handle = started.handle.expect("handle");
    assert_eq!(handle.config.expect("echoed config").id, cfg.id);
    let wait = tokio::time::timeout(
        LONG,
        client.wait_task(pb::WaitTaskRequest {
            task_id: cfg.id.clone(),
        }),
    )
    .await
    .expect("exits in time")
    .expect("WaitTask")
    .into_inner();
    assert_eq!(wait.result.expect("result").exit_code, 3);
    assert_eq!(
        std::fs::read_to_string(dir.join("exit.stdout")).expect("stdout"),
        "out\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("exit.stderr")).expect("stderr"),
        "err\n"
    );
    client
        .destroy_task(pb::DestroyTaskRequest {
            task_id: cfg.id.clone(),
            force: true,
        })
        .await
        .expect("DestroyTask");
    let missing = client
        .wait_task(pb::WaitTaskRequest {
            task_id: cfg.id.clone(),
        })
        .await
        .expect_err("destroyed task is gone");
    assert_eq!(missing.code(), nomad_plugin_proto::tonic::Code::NotFound);
    assert!(plugin.kill().await.expect("kill").graceful);
}

#[tokio::test]
async fn recovers_a_running_task_after_sigkill_of_the_plugin() {
    let dir = scratch("recover");
    let state = dir.join("state");
    let (plugin, mut client) = launch(&state).await;
    let marker = dir.join("go");
    let cfg = task_config(
        &mut client,
        &dir,
        "sleeper",
        &format!(
            r#"command = "/bin/sh"
args = ["-c", "while [ ! -e {} ]; do sleep 0.05; done; exit 7"]"#,
            marker.display()
        ),
    )
    .await;
    let handle = client
        .start_task(pb::StartTaskRequest {
            task: Some(cfg.clone()),
        })
        .await
        .expect("StartTask")
        .into_inner()
        .handle
        .expect("handle");

    // kill -9 the plugin: the task must survive it.
    plugin.signal(libc::SIGKILL).expect("SIGKILL plugin");
    drop(plugin);
    drop(client);

    let (plugin, mut client) = launch(&state).await;
    client
        .recover_task(pb::RecoverTaskRequest {
            task_id: cfg.id.clone(),
            handle: Some(handle),
        })
        .await
        .expect("RecoverTask");
    let inspect = client
        .inspect_task(pb::InspectTaskRequest {
            task_id: cfg.id.clone(),
        })
        .await
        .expect("InspectTask")
        .into_inner();
    assert_eq!(
        inspect.task.expect("task").state,
        pb::TaskState::Running as i32
    );

    std::fs::write(&marker, b"").expect("release the task");
    let wait = tokio::time::timeout(
        LONG,
        client.wait_task(pb::WaitTaskRequest {
            task_id: cfg.id.clone(),
        }),
    )
    .await
    .expect("exits in time")
    .expect("WaitTask")
    .into_inner();
    assert_eq!(wait.result.expect("result").exit_code, 7, "{:?}", wait.err);
    client
        .destroy_task(pb::DestroyTaskRequest {
            task_id: cfg.id.clone(),
            force: true,
        })
        .await
        .expect("DestroyTask");
    assert!(plugin.kill().await.expect("kill").graceful);
}

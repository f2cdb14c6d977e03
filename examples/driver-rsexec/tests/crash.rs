//! The plugin is SIGKILLed over and over while it runs 20 tasks: during
//! StartTask, mid-WaitTask, during ExecTask and during StopTask. After each
//! restart every task whose StartTask answered is recovered through
//! RecoverTask with its handle, and each exit code is observed as the task
//! set it (or as the stop signal set it), exactly once; a stop the kill cut
//! short is sent again, as Nomad's client retries it.
//!
//! Deterministic: the kill point of each round comes from a seeded RNG and
//! is reached by counting answers, never by sleeping. Tasks block reading a
//! FIFO that the test writes to when it wants them to exit.
//!
//! `RSEXEC_CRASH_ROUNDS` (default 10; `cargo xtask` long mode: 100) and
//! `RSEXEC_CRASH_SEED` (default 1) choose the rounds.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nomad_plugin_proto::nomad::drivers as pb;
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::tonic::transport::Channel;
use nomad_plugin_sdk::config::schema::Spec;
use nomad_plugin_testkit::launch::{Launcher, RunningPlugin};

const TASKS: usize = 20;
/// Generous: only there so a bug fails the test instead of hanging it.
const LONG: Duration = Duration::from_secs(120);

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if n == 0 {
            0
        } else {
            (self.0 % n as u64) as usize
        }
    }
}

/// A task the plugin acknowledged.
struct Task {
    cfg: pb::TaskConfig,
    handle: pb::TaskHandle,
    code: i32,
    /// Held open from release until the exit is observed, so the task's
    /// read finds the byte whenever it opens the FIFO.
    release: Option<File>,
    fifo: PathBuf,
    /// The exit code was seen through WaitTask.
    exited: bool,
    /// A StopTask (SIGTERM) was sent; `code` is then 143.
    stopping: bool,
}

struct Harness {
    dir: PathBuf,
    spec: Option<Spec>,
    next_id: usize,
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
    let spec = Spec::from_proto(&schema).expect("spec");
    let hcl = format!(
        "state_dir = {:?}\ncgroup_parent = {:?}\n",
        state.display().to_string(),
        cgroup_parent()
    );
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

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

impl Harness {
    async fn config(
        &mut self,
        client: &mut DriverClient<Channel>,
    ) -> (pb::TaskConfig, i32, PathBuf) {
        if self.spec.is_none() {
            let schema = client
                .task_config_schema(pb::TaskConfigSchemaRequest {})
                .await
                .expect("TaskConfigSchema")
                .into_inner()
                .spec
                .expect("task spec");
            self.spec = Some(Spec::from_proto(&schema).expect("spec"));
        }
        let n = self.next_id;
        self.next_id += 1;
        let code = (n % 250) as i32 + 1;
        let fifo = self.dir.join(format!("t{n}.fifo"));
        mkfifo(&fifo);
        let hcl = format!(
            "command = \"/bin/sh\"\nargs = [\"-c\", \"read _ < {}; exit {code}\"]\n",
            fifo.display()
        );
        let id = format!("alloc-{n}/t{n}/0000beef");
        let cfg = pb::TaskConfig {
            id: id.clone(),
            name: format!("t{n}"),
            msgpack_driver_config: nomad_plugin_testkit::hcl::encode_config(
                &hcl,
                self.spec.as_ref().expect("spec"),
            )
            .expect("encode"),
            alloc_dir: self.dir.display().to_string(),
            stdout_path: self.dir.join(format!("t{n}.stdout")).display().to_string(),
            stderr_path: self.dir.join(format!("t{n}.stderr")).display().to_string(),
            alloc_id: format!("alloc-{n}"),
            ..Default::default()
        };
        (cfg, code, fifo)
    }
}

fn release(task: &mut Task) {
    if task.release.is_none() {
        // O_RDWR: opening never blocks and the byte stays in the pipe until
        // the task reads it, whenever it gets to open the FIFO.
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&task.fifo)
            .expect("open fifo");
        f.write_all(b"go\n").expect("write fifo");
        task.release = Some(f);
    }
}

async fn wait(client: &mut DriverClient<Channel>, id: &str) -> Result<i32, String> {
    let mut c = client.clone();
    let r = tokio::time::timeout(
        LONG,
        c.wait_task(pb::WaitTaskRequest {
            task_id: id.to_string(),
        }),
    )
    .await
    .map_err(|_| format!("{id}: WaitTask took over {LONG:?}"))?
    .map_err(|e| e.to_string())?
    .into_inner();
    if !r.err.is_empty() {
        return Err(r.err);
    }
    Ok(r.result.map(|r| r.exit_code).unwrap_or(-1))
}

/// Stop with SIGTERM and a timeout long enough never to need SIGKILL.
fn stop_request(id: &str) -> pb::StopTaskRequest {
    pb::StopTaskRequest {
        task_id: id.to_string(),
        timeout: Some(nomad_plugin_proto::prost_types::Duration {
            seconds: 60,
            nanos: 0,
        }),
        signal: "SIGTERM".into(),
    }
}

/// The cgroup under which this test's tasks get theirs.
fn cgroup_parent() -> String {
    format!("rsexec-crash-{}", std::process::id())
}

/// Task cgroups left under this test's parent (in any hierarchy), removed;
/// returns how many tasks had one.
fn remove_leftover_cgroups() -> usize {
    let parent = cgroup_parent();
    let mut tasks = std::collections::BTreeSet::new();
    let roots = ["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer"]
        .iter()
        .map(|c| Path::new("/sys/fs/cgroup").join(c).join(&parent))
        .chain([Path::new("/sys/fs/cgroup").join(format!("{parent}.slice"))]);
    for root in roots {
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                tasks.insert(entry.file_name());
                let _ = std::fs::remove_dir(entry.path());
            }
        }
        let _ = std::fs::remove_dir(&root);
    }
    tasks.len()
}

/// Kills leftover processes whose command line mentions `dir`: orphans of
/// StartTask calls that never answered, and exec'd commands.
fn reap_leftovers(dir: &Path) -> usize {
    let needle = dir.display().to_string();
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(&needle) {
            // SAFETY: plain kill(2) on a pid we found; ESRCH is fine.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
            killed += 1;
        }
    }
    killed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_tasks_survive_repeated_sigkill_of_the_plugin() {
    let rounds: usize = std::env::var("RSEXEC_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("RSEXEC_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let dir = std::env::temp_dir().join(format!("rsexec-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let state = dir.join("state");
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut h = Harness {
        dir: dir.clone(),
        spec: None,
        next_id: 0,
    };
    let mut tasks: BTreeMap<String, Task> = BTreeMap::new();
    let mut observed_exits = 0usize;
    let mut unanswered_starts = 0usize;
    let mut kinds = [0usize; 4];

    for round in 0..rounds {
        let (plugin, mut client) = launch(&state).await;
        // Recovery: every acknowledged task, with the handle Nomad kept.
        for (id, t) in &tasks {
            client
                .recover_task(pb::RecoverTaskRequest {
                    task_id: id.clone(),
                    handle: Some(t.handle.clone()),
                })
                .await
                .unwrap_or_else(|e| panic!("round {round}: RecoverTask {id}: {e}"));
        }
        // Exited tasks: their code again through WaitTask, then destroy.
        let done: Vec<String> = tasks
            .iter()
            .filter(|(_, t)| t.exited)
            .map(|(id, _)| id.clone())
            .collect();
        for id in done {
            let code = wait(&mut client, &id)
                .await
                .expect("WaitTask after recovery");
            assert_eq!(
                code, tasks[&id].code,
                "round {round}: {id} exit code after recovery"
            );
            client
                .destroy_task(pb::DestroyTaskRequest {
                    task_id: id.clone(),
                    force: true,
                })
                .await
                .unwrap_or_else(|e| panic!("DestroyTask {id}: {e}"));
            tasks.remove(&id);
        }
        // Stops the last kill cut short: sent again, as Nomad retries.
        let stopping: Vec<String> = tasks
            .iter()
            .filter(|(_, t)| t.stopping)
            .map(|(id, _)| id.clone())
            .collect();
        for id in stopping {
            client
                .stop_task(stop_request(&id))
                .await
                .unwrap_or_else(|e| panic!("round {round}: StopTask {id} again: {e}"));
            let code = wait(&mut client, &id).await.expect("WaitTask after stop");
            assert_eq!(code, 143, "round {round}: {id} exit code after SIGTERM");
            observed_exits += 1;
            client
                .destroy_task(pb::DestroyTaskRequest {
                    task_id: id.clone(),
                    force: true,
                })
                .await
                .unwrap_or_else(|e| panic!("DestroyTask {id}: {e}"));
            tasks.remove(&id);
        }
        let running: Vec<String> = tasks.keys().cloned().collect();
        for id in &running {
            let inspect = client
                .inspect_task(pb::InspectTaskRequest {
                    task_id: id.clone(),
                })
                .await
                .unwrap_or_else(|e| panic!("round {round}: InspectTask {id}: {e}"))
                .into_inner();
            assert!(inspect.task.is_some(), "round {round}: {id} lost");
        }

        let free = TASKS - tasks.len();
        let kind = if tasks.is_empty() || (free > 0 && rng.below(3) == 0) {
            0
        } else {
            1 + rng.below(3)
        };
        kinds[kind] += 1;
        match kind {
            // During StartTask: fill the free slots with concurrent starts
            // and kill after `k` of them have answered.
            0 => {
                let free = TASKS - tasks.len();
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                for _ in 0..free {
                    let (cfg, code, fifo) = h.config(&mut client).await;
                    let mut c = client.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let r = c
                            .start_task(pb::StartTaskRequest {
                                task: Some(cfg.clone()),
                            })
                            .await;
                        let _ = tx.send((cfg, code, fifo, r));
                    });
                }
                drop(tx);
                let k = rng.below(free + 1);
                let mut answers = Vec::new();
                for _ in 0..k {
                    answers.push(rx.recv().await.expect("a start"));
                }
                plugin.signal(libc::SIGKILL).expect("SIGKILL plugin");
                while let Some(a) = rx.recv().await {
                    answers.push(a);
                }
                for (cfg, code, fifo, r) in answers {
                    match r {
                        Ok(resp) => {
                            let handle = resp.into_inner().handle.expect("handle");
                            let id = cfg.id.clone();
                            let old = tasks.insert(
                                id.clone(),
                                Task {
                                    cfg,
                                    handle,
                                    code,
                                    release: None,
                                    fifo,
                                    exited: false,
                                    stopping: false,
                                },
                            );
                            assert!(old.is_none(), "{id} started twice");
                        }
                        // Nomad never got a handle: the task is not its
                        // to recover; leftovers are reaped at the end.
                        Err(_) => unanswered_starts += 1,
                    }
                }
            }
            // Mid-WaitTask: release some tasks, wait on every task, kill
            // after `k` exits were observed.
            1 => {
                let ids: Vec<String> = tasks.keys().cloned().collect();
                for id in &ids {
                    if rng.below(3) == 0 {
                        release(tasks.get_mut(id).expect("task"));
                    }
                }
                let (tx, mut waits) = tokio::sync::mpsc::unbounded_channel();
                for id in ids.iter().filter(|id| tasks[*id].release.is_some()) {
                    let mut c = client.clone();
                    let id = id.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let r = wait(&mut c, &id).await;
                        let _ = tx.send((id, r));
                    });
                }
                drop(tx);
                // Streams on tasks that keep running: these are cut by the kill.
                let mut blocked = Vec::new();
                for id in ids.iter().filter(|id| tasks[*id].release.is_none()) {
                    let mut c = client.clone();
                    let id = id.clone();
                    blocked.push(tokio::spawn(async move { wait(&mut c, &id).await }));
                }
                // Released now or in an earlier round and not yet observed.
                let released = ids.iter().filter(|id| tasks[*id].release.is_some()).count();
                let k = rng.below(released + 1);
                for _ in 0..k {
                    let (id, r) = waits.recv().await.expect("a wait");
                    let code = r.unwrap_or_else(|e| panic!("WaitTask {id}: {e}"));
                    let t = tasks.get_mut(&id).expect("task");
                    assert_eq!(code, t.code, "round {round}: {id} exit code");
                    assert!(!t.exited, "{id} exit observed twice");
                    t.exited = true;
                    observed_exits += 1;
                }
                plugin.signal(libc::SIGKILL).expect("SIGKILL plugin");
                drop(waits);
                for b in blocked {
                    let r = b.await.expect("join");
                    assert!(r.is_err(), "a task that was not released exited: {r:?}");
                }
            }
            // During StopTask: stop some waiting tasks at once, kill after
            // `k` of the stops have answered.
            3 => {
                let ids: Vec<String> = tasks
                    .iter()
                    .filter(|(_, t)| !t.exited && t.release.is_none())
                    .map(|(id, _)| id.clone())
                    .filter(|_| rng.below(2) == 0)
                    .collect();
                let (tx, mut stops) = tokio::sync::mpsc::unbounded_channel();
                for id in &ids {
                    let t = tasks.get_mut(id).expect("task");
                    t.stopping = true;
                    t.code = 143;
                    let mut c = client.clone();
                    let (id, tx) = (id.clone(), tx.clone());
                    tokio::spawn(async move {
                        let r = c.stop_task(stop_request(&id)).await;
                        let _ = tx.send((id, r));
                    });
                }
                drop(tx);
                let k = rng.below(ids.len() + 1);
                for _ in 0..k {
                    let (id, r) = stops.recv().await.expect("a stop");
                    r.unwrap_or_else(|e| panic!("round {round}: StopTask {id}: {e}"));
                }
                plugin.signal(libc::SIGKILL).expect("SIGKILL plugin");
                while stops.recv().await.is_some() {}
            }
            // During ExecTask: an exec'd command signals that it runs and
            // then blocks; the plugin is killed while the call is open.
            _ => {
                let Some(id) = tasks
                    .iter()
                    .find(|(_, t)| !t.exited && t.release.is_none() && !t.stopping)
                    .map(|(id, _)| id.clone())
                else {
                    plugin.signal(libc::SIGKILL).expect("SIGKILL plugin");
                    continue;
                };
                let mark = dir.join(format!("exec{round}.fifo"));
                let block = dir.join(format!("exec{round}.block"));
                mkfifo(&mark);
                mkfifo(&block);
                let mut c = client.clone();
                let cmd = format!("echo x > {}; read _ < {}", mark.display(), block.display());
                let task_id = id.clone();
                let exec = tokio::spawn(async move {
                    c.exec_task(pb::ExecTaskRequest {
                        task_id,
                        command: vec!["/bin/sh".into(), "-c".into(), cmd],
                        timeout: None,
                    })
                    .await
                });
                let mark2 = mark.clone();
                tokio::time::timeout(
                    LONG,
                    tokio::task::spawn_blocking(move || std::fs::read(mark2)),
                )
                .await
                .expect("the exec'd command runs in time")
                .expect("join")
                .expect("read mark");
                plugin.signal(libc::SIGKILL).expect("SIGKILL plugin");
                let r = exec.await.expect("join");
                assert!(
                    r.is_err(),
                    "ExecTask answered although the plugin was killed"
                );
            }
        }
        drop(client);
        drop(plugin);
    }

    // Final round: recover, release everything, observe every exit once.
    let (plugin, mut client) = launch(&state).await;
    let ids: Vec<String> = tasks.keys().cloned().collect();
    for id in &ids {
        client
            .recover_task(pb::RecoverTaskRequest {
                task_id: id.clone(),
                handle: Some(tasks[id].handle.clone()),
            })
            .await
            .unwrap_or_else(|e| panic!("final RecoverTask {id}: {e}"));
        if tasks[id].stopping {
            client
                .stop_task(stop_request(id))
                .await
                .unwrap_or_else(|e| panic!("final StopTask {id}: {e}"));
        } else {
            release(tasks.get_mut(id).expect("task"));
        }
    }
    for id in &ids {
        let code = wait(&mut client, id).await.expect("final WaitTask");
        let t = &tasks[id];
        assert_eq!(code, t.code, "{id} ({}) final exit code", t.cfg.name);
        if !t.exited {
            observed_exits += 1;
        }
        client
            .destroy_task(pb::DestroyTaskRequest {
                task_id: id.clone(),
                force: true,
            })
            .await
            .unwrap_or_else(|e| panic!("DestroyTask {id}: {e}"));
    }
    assert!(plugin.kill().await.expect("kill").graceful);
    let leftovers = reap_leftovers(&dir);
    let leftover_cgroups = remove_leftover_cgroups();
    eprintln!(
        "crash test: {rounds} SIGKILLs (StartTask {}, WaitTask {}, ExecTask {}, StopTask {}), seed {seed}; \
         {} tasks started and acknowledged, {observed_exits} exits observed with the right code, \
         {unanswered_starts} StartTask calls cut by the kill, {leftovers} leftover processes reaped, \
         {leftover_cgroups} leftover task cgroups removed (starts the executor had acknowledged \
         whose answer the kill cut)",
        kinds[0], kinds[1], kinds[3], kinds[2], h.next_id - unanswered_starts,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

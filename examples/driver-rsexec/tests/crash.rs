//! The plugin is SIGKILLed over and over while it runs 20 tasks: during
//! StartTask, mid-WaitTask and during ExecTask. After each restart every
//! task whose StartTask answered is recovered through RecoverTask with its
//! handle, and each exit code is observed as the task set it, exactly once.
//!
//! Deterministic: the kill point of each round comes from a seeded RNG and
//! is reached by counting answers, never by sleeping. Tasks block reading a
//! FIFO in their alloc dir that the test writes to when it wants them to
//! exit.
//!
//! `RSEXEC_CRASH_ROUNDS` (default 10; `cargo xtask` long mode: 100) and
//! `RSEXEC_CRASH_SEED` (default 1) choose the rounds.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use nomad_plugin_testkit::driver::{DriverHarness, HarnessError, Task};

const TASKS: usize = 20;

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
struct Tracked {
    task: Task,
    code: i32,
    /// Held open from release until the end, so the task's read finds the
    /// byte whenever it opens the FIFO.
    release: Option<File>,
    /// The exit code was seen through WaitTask.
    exited: bool,
}

/// Writes a line into a FIFO and keeps it open (O_RDWR: opening never
/// blocks and the byte stays in the pipe until it is read).
fn feed(fifo: &Path) -> File {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .unwrap_or_else(|e| panic!("open {}: {e}", fifo.display()));
    f.write_all(b"go\n").expect("write fifo");
    f
}

async fn release(t: &mut Tracked) {
    if t.release.is_none() {
        // The task makes its FIFO before it says "ready".
        t.task.wait_for_stdout("ready").await.expect("task ready");
        t.release = Some(feed(&t.task.alloc_dir().join("alloc/go")));
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

async fn exit_code(h: &DriverHarness, task: &Task) -> Result<i32, HarnessError> {
    let exit = h.wait(task).await?;
    match exit.error {
        Some(e) => Err(HarnessError::Protocol(e)),
        None => Ok(exit.exit_code),
    }
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
    let state = tempfile::tempdir().expect("state dir");
    let mut h = DriverHarness::builder(env!("CARGO_BIN_EXE_rsexec"))
        .config_hcl(format!(
            "state_dir = {:?}\n",
            state.path().display().to_string()
        ))
        // Generous: only there so a bug fails the test instead of hanging it.
        .patience(Duration::from_secs(120))
        .launch()
        .await
        .expect("launch rsexec");
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut tasks: BTreeMap<String, Tracked> = BTreeMap::new();
    let mut next_id = 0usize;
    let mut observed_exits = 0usize;
    let mut unanswered_starts = 0usize;
    let mut kinds = [0usize; 3];
    let mut exec_blocks = Vec::new();

    for round in 0..rounds {
        if round > 0 {
            h.relaunch().await.expect("relaunch after SIGKILL");
        }
        // Recovery: every acknowledged task, with the handle Nomad kept.
        for (id, t) in &tasks {
            h.recover(&t.task)
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
            let t = tasks.remove(&id).expect("task");
            let code = exit_code(&h, &t.task)
                .await
                .expect("WaitTask after recovery");
            assert_eq!(code, t.code, "round {round}: {id} exit code after recovery");
            h.destroy(&t.task)
                .await
                .unwrap_or_else(|e| panic!("DestroyTask {id}: {e}"));
        }
        for (id, t) in &tasks {
            h.inspect(&t.task)
                .await
                .unwrap_or_else(|e| panic!("round {round}: {id} lost: {e}"));
        }

        let free = TASKS - tasks.len();
        let kind = if tasks.is_empty() || (free > 0 && rng.below(3) == 0) {
            0
        } else {
            1 + rng.below(2)
        };
        kinds[kind] += 1;
        match kind {
            // During StartTask: fill the free slots with concurrent starts
            // and kill after `k` of them have answered.
            0 => {
                let mut starts = FuturesUnordered::new();
                for _ in 0..free {
                    let n = next_id;
                    next_id += 1;
                    let code = (n % 250) as i32 + 1;
                    let hcl = format!(
                        "command = \"/bin/sh\"\nargs = [\"-c\", \"mkfifo $NOMAD_ALLOC_DIR/go; echo ready; read _ < $NOMAD_ALLOC_DIR/go; exit {code}\"]\n"
                    );
                    let start = h.task(format!("t{n}")).config_hcl(hcl).start();
                    starts.push(async move { (code, start.await) });
                }
                let k = rng.below(free + 1);
                let mut answers = Vec::new();
                if k == 0 {
                    // Put every StartTask on the wire before the kill.
                    if let std::task::Poll::Ready(a) = futures::poll!(starts.next()) {
                        answers.push(a.expect("a start"));
                    }
                }
                while answers.len() < k {
                    answers.push(starts.next().await.expect("a start"));
                }
                h.kill_plugin().await.expect("SIGKILL plugin");
                while let Some(a) = starts.next().await {
                    answers.push(a);
                }
                for (code, r) in answers {
                    match r {
                        Ok(task) => {
                            let id = task.id().to_string();
                            let old = tasks.insert(
                                id.clone(),
                                Tracked {
                                    task,
                                    code,
                                    release: None,
                                    exited: false,
                                },
                            );
                            assert!(old.is_none(), "{id} started twice");
                        }
                        // Nomad never got a handle: the task is not its to
                        // recover; dropping the attempt killed its processes.
                        Err(_) => unanswered_starts += 1,
                    }
                }
            }
            // Mid-WaitTask: release some tasks, wait on every task, kill
            // after `k` exits were observed.
            1 => {
                for t in tasks.values_mut() {
                    if rng.below(3) == 0 {
                        release(t).await;
                    }
                }
                // Released now or in an earlier round and not yet observed.
                let released = tasks.values().filter(|t| t.release.is_some()).count();
                let k = rng.below(released + 1);
                let mut waits: FuturesUnordered<_> = tasks
                    .iter()
                    .map(|(id, t)| {
                        let wait = exit_code(&h, &t.task);
                        async move { (id.clone(), wait.await) }
                    })
                    .collect();
                let mut seen = Vec::new();
                if k == 0 {
                    // Put every WaitTask on the wire before the kill.
                    if let std::task::Poll::Ready(w) = futures::poll!(waits.next()) {
                        seen.push(w.expect("a wait"));
                    }
                }
                while seen.iter().filter(|(_, r)| r.is_ok()).count() < k {
                    let Some(w) = waits.next().await else { break };
                    seen.push(w);
                }
                h.kill_plugin().await.expect("SIGKILL plugin");
                while let Some(w) = waits.next().await {
                    seen.push(w);
                }
                drop(waits);
                // An error is a wait cut by the kill: a running task, or an
                // exit the next round observes after recovery.
                for (id, r) in seen {
                    let t = tasks.get_mut(&id).expect("task");
                    if let Ok(code) = r {
                        assert!(t.release.is_some(), "{id} exited unreleased: {code}");
                        assert_eq!(code, t.code, "round {round}: {id} exit code");
                        assert!(!t.exited, "{id} exit observed twice");
                        t.exited = true;
                        observed_exits += 1;
                    }
                }
            }
            // During ExecTask: an exec'd command signals that it runs and
            // then blocks; the plugin is killed while the call is open.
            _ => {
                let Some(t) = tasks.values().find(|t| !t.exited && t.release.is_none()) else {
                    h.kill_plugin().await.expect("SIGKILL plugin");
                    continue;
                };
                let mark = t.task.alloc_dir().join(format!("alloc/exec{round}.mark"));
                let block = t.task.alloc_dir().join(format!("alloc/exec{round}.block"));
                mkfifo(&mark);
                mkfifo(&block);
                let cmd = format!("echo x > {}; read _ < {}", mark.display(), block.display());
                let exec = h.exec(&t.task, ["/bin/sh", "-c", &cmd], Duration::from_secs(120));
                tokio::pin!(exec);
                let read_mark = tokio::task::spawn_blocking(move || std::fs::read(mark));
                tokio::select! {
                    r = &mut exec => panic!("ExecTask answered before its command ran: {r:?}"),
                    m = read_mark => { m.expect("join").expect("read mark"); }
                }
                h.kill_plugin().await.expect("SIGKILL plugin");
                let r = exec.await;
                assert!(
                    r.is_err(),
                    "ExecTask answered although the plugin was killed"
                );
                // Let the orphaned command finish.
                exec_blocks.push(feed(&block));
            }
        }
    }

    // Final round: recover, release everything, observe every exit once.
    h.relaunch().await.expect("final relaunch");
    for (id, t) in tasks.iter_mut() {
        h.recover(&t.task)
            .await
            .unwrap_or_else(|e| panic!("final RecoverTask {id}: {e}"));
        release(t).await;
    }
    for (id, t) in &tasks {
        let code = exit_code(&h, &t.task).await.expect("final WaitTask");
        assert_eq!(code, t.code, "{id} final exit code");
        if !t.exited {
            observed_exits += 1;
        }
        h.destroy(&t.task)
            .await
            .unwrap_or_else(|e| panic!("DestroyTask {id}: {e}"));
    }
    h.shutdown().await.expect("graceful shutdown");
    eprintln!(
        "crash test: {rounds} SIGKILLs (StartTask {}, WaitTask {}, ExecTask {}), seed {seed}; \
         {} tasks started and acknowledged, {observed_exits} exits observed with the right code, \
         {unanswered_starts} StartTask calls cut by the kill",
        kinds[0],
        kinds[1],
        kinds[2],
        next_id - unanswered_starts,
    );
}

//! What the driver and load benches share: a configured driver instance,
//! task configs as the Nomad client builds them, and `/proc` readings.
//! Each bench uses a part of it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_proto::nomad::base::{ConfigSchemaRequest, NomadConfig, SetConfigRequest};
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::{
    DestroyTaskRequest, StartTaskRequest, TaskConfig, TaskConfigSchemaRequest,
};
use nomad_plugin_sdk::config::schema::Spec;
use nomad_plugin_testkit::launch::{Launcher, RunningPlugin};
use tonic::transport::Channel;

pub fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Clock ticks (user + system) the process has used, from /proc/<pid>/stat.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15 (1-based).
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// One configured driver instance plus what a task needs.
pub struct Bench {
    pub plugin: RunningPlugin,
    pub client: DriverClient<Channel>,
    pub task_spec: Spec,
    pub work: tempfile::TempDir,
    /// Set in every task's environment, so whatever survives can be found.
    pub marker: String,
}

impl Bench {
    pub async fn launch(binary: &Path) -> anyhow::Result<Bench> {
        Self::launch_with_env(binary, &[]).await
    }

    /// Like [`Bench::launch`], with extra environment for the plugin
    /// (`MALLOC_ARENA_MAX=2` for the allocator experiment).
    pub async fn launch_with_env(binary: &Path, env: &[(String, String)]) -> anyhow::Result<Bench> {
        let work = tempfile::tempdir()?;
        let mut launcher = Launcher::nomad(binary).null_stdin();
        for (k, v) in env {
            launcher = launcher.env(k, v);
        }
        let plugin = launcher.launch().await?;
        let mut base = BasePluginClient::new(plugin.channel());
        let spec = base
            .config_schema(ConfigSchemaRequest {})
            .await?
            .into_inner()
            .spec
            .context("no agent config schema")?;
        let spec = nomad_plugin_sdk::host::schema::from_proto(&spec)?;
        // rsexec keeps task records in `state_dir`; the Go driver has no
        // such option, so fall back to an empty config.
        let state = format!(
            "state_dir = {:?}\n",
            work.path().join("state").display().to_string()
        );
        let msgpack = nomad_plugin_testkit::hcl::encode_config(&state, &spec)
            .or_else(|_| nomad_plugin_testkit::hcl::encode_config("", &spec))
            .map_err(|d| anyhow::anyhow!("{d}"))?;
        base.set_config(SetConfigRequest {
            msgpack_config: msgpack,
            nomad_config: Some(NomadConfig::default()),
            plugin_api_version: "0.1.0".into(),
        })
        .await?;
        let mut client = DriverClient::new(plugin.channel());
        let tspec = client
            .task_config_schema(TaskConfigSchemaRequest {})
            .await?
            .into_inner()
            .spec
            .context("no task config schema")?;
        let task_spec = nomad_plugin_sdk::host::schema::from_proto(&tspec)?;
        let marker = format!("{}-{}", std::process::id(), binary.display());
        Ok(Bench {
            plugin,
            client,
            task_spec,
            work,
            marker,
        })
    }

    /// A `TaskConfig` as the Nomad client builds it (alloc dir with the
    /// task's `local` dir, `NOMAD_*` environment), with stdout/stderr to
    /// /dev/null: the logmon FIFOs are not what is being measured.
    pub fn task(&self, n: usize, command: &str, args: &[&str]) -> anyhow::Result<TaskConfig> {
        let alloc_id = format!("00000000-0000-4000-a000-{n:012}");
        let alloc_dir = self.work.path().join(&alloc_id);
        std::fs::create_dir_all(alloc_dir.join("alloc/logs"))?;
        std::fs::create_dir_all(alloc_dir.join("bench/local"))?;
        let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
        let hcl = format!("command = {command:?}\nargs = [{}]\n", args.join(", "));
        let msgpack = nomad_plugin_testkit::hcl::encode_config(&hcl, &self.task_spec)
            .map_err(|d| anyhow::anyhow!("{d}"))?;
        let env = [
            ("NOMAD_ALLOC_ID", alloc_id.clone()),
            ("NOMAD_TASK_NAME", "bench".into()),
            (
                "NOMAD_ALLOC_DIR",
                alloc_dir.join("alloc").display().to_string(),
            ),
            (
                "NOMAD_TASK_DIR",
                alloc_dir.join("bench/local").display().to_string(),
            ),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("NOMAD_PLUGIN_BENCH", self.marker.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Ok(TaskConfig {
            id: format!("{alloc_id}/bench/{n:08x}"),
            name: "bench".into(),
            msgpack_driver_config: msgpack,
            env,
            alloc_dir: alloc_dir.display().to_string(),
            stdout_path: "/dev/null".into(),
            stderr_path: "/dev/null".into(),
            task_group_name: "group".into(),
            job_name: "bench".into(),
            job_id: "bench".into(),
            alloc_id,
            namespace: "default".into(),
            node_name: "bench-node".into(),
            node_id: "00000000-0000-4000-a000-000000000000".into(),
            ..Default::default()
        })
    }

    pub async fn start(&mut self, cfg: TaskConfig) -> anyhow::Result<(String, Duration)> {
        start_task(&mut self.client, cfg).await
    }

    pub async fn destroy(&mut self, id: &str) -> anyhow::Result<()> {
        destroy_task(&mut self.client, id).await
    }

    /// SIGKILLs any process still carrying this run's marker: tasks must
    /// not outlive the benchmark, whatever the driver did.
    pub fn reap_leftovers(&self) -> usize {
        let needle = format!("NOMAD_PLUGIN_BENCH={}", self.marker);
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        let mut n = 0;
        for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
            let hit = std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false);
            if hit {
                // SAFETY: kill(2) on a pid that carries our marker.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                n += 1;
            }
        }
        n
    }
}

/// `StartTask` on any client (concurrent callers each hold a clone): the
/// task id and how long the call took. A driver error is an error.
pub async fn start_task(
    client: &mut DriverClient<Channel>,
    cfg: TaskConfig,
) -> anyhow::Result<(String, Duration)> {
    let id = cfg.id.clone();
    let t0 = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(30),
        client.start_task(StartTaskRequest { task: Some(cfg) }),
    )
    .await
    .with_context(|| format!("StartTask of {id} did not answer within 30 s"))??
    .into_inner();
    let took = t0.elapsed();
    anyhow::ensure!(
        resp.driver_error_msg.is_empty(),
        "StartTask: {}",
        resp.driver_error_msg
    );
    Ok((id, took))
}

/// `DestroyTask{force: true}`.
pub async fn destroy_task(client: &mut DriverClient<Channel>, id: &str) -> anyhow::Result<()> {
    tokio::time::timeout(
        Duration::from_secs(60),
        client.destroy_task(DestroyTaskRequest {
            task_id: id.into(),
            force: true,
        }),
    )
    .await
    .with_context(|| format!("DestroyTask of {id} did not answer within 60 s"))??;
    Ok(())
}

/// What `/proc` says about a process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSnapshot {
    /// Resident set (`VmRSS`), bytes.
    pub rss: u64,
    /// Its anonymous part (`RssAnon`: heap, stacks), bytes; the rest is
    /// the binary's and libraries' pages.
    pub anon: u64,
    /// Peak resident set since start or the last [`reset_peak_rss`]
    /// (`VmHWM`), bytes.
    pub hwm: u64,
    /// Open file descriptors (entries of `/proc/<pid>/fd`).
    pub fds: usize,
    /// Threads (`Threads`).
    pub threads: usize,
}

/// Reads [`ProcSnapshot`] for `pid`; zeros where `/proc` could not be read.
pub fn snapshot(pid: u32) -> ProcSnapshot {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    ProcSnapshot {
        rss: field("VmRSS:") * 1024,
        anon: field("RssAnon:") * 1024,
        hwm: field("VmHWM:") * 1024,
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0),
        threads: field("Threads:") as usize,
    }
}

/// Resets the peak resident set (`VmHWM`) of `pid` to its current RSS
/// (writing 5 to `/proc/<pid>/clear_refs`), so the next peak is a phase's.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

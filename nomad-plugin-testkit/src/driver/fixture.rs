//! What the Nomad client prepares around a task before `StartTask`: the
//! allocation directory, the log FIFOs and their reader (logmon), the task
//! environment, resources and the `TaskConfig` itself; and the clean-up
//! that makes sure no task process outlives a check.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nomad_plugin_proto::nomad::drivers::{
    driver_capabilities::FsIsolation, AllocatedCpuResources, AllocatedMemoryResources,
    AllocatedTaskResources, LinuxResources, Resources, TaskConfig,
};
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

/// A random 64-bit number (std's hasher keys are random per process; the
/// counter and clock make each call differ).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(nanos);
    h.finish()
}

/// A UUID-shaped id, as Nomad's alloc and node ids are.
pub(crate) fn uuid() -> String {
    let hex = format!("{:016x}{:016x}", random_u64(), random_u64());
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Task id as Nomad builds it: `<alloc id>/<task name>/<8 hex>`.
pub(crate) fn task_id(alloc_id: &str, task: &str) -> String {
    format!("{alloc_id}/{task}/{:08x}", random_u64() as u32)
}

fn mkfifo(path: &Path) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The reading end of one log FIFO: everything the task wrote so far.
#[derive(Clone)]
pub(crate) struct LogSink {
    buf: Arc<Mutex<Vec<u8>>>,
    changed: Arc<Notify>,
}

impl LogSink {
    /// Creates the FIFO at `path` and starts reading it. The FIFO is opened
    /// read-write, so it never reports end-of-file while the driver (or a
    /// restarted driver) reopens it, and a driver's write-only open never
    /// blocks.
    fn open(path: &Path) -> std::io::Result<(LogSink, tokio::task::JoinHandle<()>)> {
        mkfifo(path)?;
        let mut rx = tokio::net::unix::pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(path)?;
        let sink = LogSink {
            buf: Arc::new(Mutex::new(Vec::new())),
            changed: Arc::new(Notify::new()),
        };
        let s = sink.clone();
        let reader = tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = rx.read(&mut chunk).await {
                if n == 0 {
                    return;
                }
                if let Ok(mut b) = s.buf.lock() {
                    // Keep at most 1 MiB: checks only look for short markers.
                    if b.len() < 1 << 20 {
                        b.extend_from_slice(&chunk[..n]);
                    }
                }
                s.changed.notify_waiters();
            }
        });
        Ok((sink, reader))
    }

    /// What was read so far, lossily as text.
    pub(crate) fn text(&self) -> String {
        self.buf
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until `needle` has been read, up to `timeout`.
    pub(crate) async fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.text().contains(needle) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.text().contains(needle);
            }
        }
    }
}

/// One allocation with one task, laid out as the Nomad client does.
pub(crate) struct TaskFixture {
    /// The request for `StartTask`.
    pub config: TaskConfig,
    /// The allocation directory (host path).
    pub alloc_dir: PathBuf,
    /// Logmon's view of the task's stdout.
    pub stdout: LogSink,
    /// Logmon's view of the task's stderr.
    pub stderr: LogSink,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

/// Inputs for building a task.
pub(crate) struct TaskSpec<'a> {
    pub work_dir: &'a Path,
    pub task_name: &'a str,
    pub msgpack_config: Vec<u8>,
    pub fs_isolation: FsIsolation,
}

impl TaskFixture {
    /// Builds the alloc dir (`alloc/{data,logs,tmp}`, `<task>/{local,secrets,private,tmp}`),
    /// the log FIFOs with their reader, and the `TaskConfig`.
    pub(crate) fn new(spec: TaskSpec<'_>) -> std::io::Result<TaskFixture> {
        let alloc_id = uuid();
        let node_id = uuid();
        let alloc_dir = spec.work_dir.join(&alloc_id);
        let task = spec.task_name;
        for sub in ["alloc/data", "alloc/logs", "alloc/tmp"] {
            std::fs::create_dir_all(alloc_dir.join(sub))?;
        }
        for sub in ["local", "secrets", "private", "tmp"] {
            std::fs::create_dir_all(alloc_dir.join(task).join(sub))?;
        }
        let logs = alloc_dir.join("alloc/logs");
        let stdout_path = logs.join(format!(".{task}.stdout.fifo"));
        let stderr_path = logs.join(format!(".{task}.stderr.fifo"));
        let (stdout, r1) = LogSink::open(&stdout_path)?;
        let (stderr, r2) = LogSink::open(&stderr_path)?;

        let job = "testkit";
        let group = "group";
        let (alloc_path, task_path, secrets_path) = match spec.fs_isolation {
            FsIsolation::Chroot | FsIsolation::Image => (
                "/alloc".to_string(),
                "/local".to_string(),
                "/secrets".to_string(),
            ),
            // NONE (and UNVEIL, whose mount paths we do not model): host paths.
            _ => (
                alloc_dir.join("alloc").display().to_string(),
                alloc_dir.join(task).join("local").display().to_string(),
                alloc_dir.join(task).join("secrets").display().to_string(),
            ),
        };
        let memory_mb = 256;
        let cpu = 500;
        let mut env: HashMap<String, String> = [
            ("NOMAD_ALLOC_DIR", alloc_path),
            ("NOMAD_TASK_DIR", task_path),
            ("NOMAD_SECRETS_DIR", secrets_path),
            ("NOMAD_ALLOC_ID", alloc_id.clone()),
            ("NOMAD_SHORT_ALLOC_ID", alloc_id[..8].to_string()),
            ("NOMAD_ALLOC_NAME", format!("{job}.{group}[0]")),
            ("NOMAD_ALLOC_INDEX", "0".into()),
            ("NOMAD_TASK_NAME", task.into()),
            ("NOMAD_GROUP_NAME", group.into()),
            ("NOMAD_JOB_NAME", job.into()),
            ("NOMAD_JOB_ID", job.into()),
            ("NOMAD_NAMESPACE", "default".into()),
            ("NOMAD_REGION", "global".into()),
            ("NOMAD_DC", "dc1".into()),
            ("NOMAD_NODE_ID", node_id.clone()),
            ("NOMAD_NODE_NAME", "testkit-node".into()),
            ("NOMAD_CPU_LIMIT", cpu.to_string()),
            ("NOMAD_MEMORY_LIMIT", memory_mb.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // The client passes the host's environment to tasks without an
        // image of their own; PATH is the part a command needs.
        if spec.fs_isolation != FsIsolation::Image {
            if let Ok(path) = std::env::var("PATH") {
                env.insert("PATH".into(), path);
            }
        }

        let config = TaskConfig {
            id: task_id(&alloc_id, task),
            name: task.into(),
            msgpack_driver_config: spec.msgpack_config,
            env,
            resources: Some(Resources {
                allocated_resources: Some(AllocatedTaskResources {
                    cpu: Some(AllocatedCpuResources { cpu_shares: cpu }),
                    memory: Some(AllocatedMemoryResources {
                        memory_mb,
                        memory_max_mb: 0,
                    }),
                    networks: Vec::new(),
                }),
                linux_resources: Some(LinuxResources {
                    cpu_shares: cpu,
                    memory_limit_bytes: memory_mb * 1024 * 1024,
                    percent_ticks: 0.0,
                    ..Default::default()
                }),
                ports: Vec::new(),
            }),
            alloc_dir: alloc_dir.display().to_string(),
            stdout_path: stdout_path.display().to_string(),
            stderr_path: stderr_path.display().to_string(),
            task_group_name: group.into(),
            job_name: job.into(),
            job_id: job.into(),
            alloc_id,
            namespace: "default".into(),
            node_name: "testkit-node".into(),
            node_id,
            ..Default::default()
        };
        Ok(TaskFixture {
            config,
            alloc_dir,
            stdout,
            stderr,
            readers: vec![r1, r2],
        })
    }

    /// The file a task script waits for before it exits (`release`).
    pub(crate) fn release(&self) -> std::io::Result<()> {
        std::fs::write(self.alloc_dir.join("alloc").join("release"), b"go\n")
    }

    /// Both log streams, for failure messages.
    pub(crate) fn output(&self) -> String {
        format!(
            "task stdout {:?}, stderr {:?}",
            tail(&self.stdout.text()),
            tail(&self.stderr.text())
        )
    }
}

fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(400);
    let mut i = start;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

impl Drop for TaskFixture {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
        kill_alloc_processes(&self.config.alloc_id);
        let _ = std::fs::remove_dir_all(&self.alloc_dir);
    }
}

/// Pids of processes whose environment carries `NOMAD_ALLOC_ID=<alloc_id>`:
/// the task's processes, whatever the driver started them with.
pub(crate) fn alloc_processes(alloc_id: &str) -> Vec<i32> {
    let needle = format!("NOMAD_ALLOC_ID={alloc_id}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id() as i32;
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .filter(|pid| !is_zombie(*pid))
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rfind(')')?;
            s[after + 1..].split_whitespace().next().map(|st| st == "Z")
        })
        .unwrap_or(false)
}

/// SIGKILLs every process of the allocation and its process group.
pub(crate) fn kill_alloc_processes(alloc_id: &str) {
    for pid in alloc_processes(alloc_id) {
        // SAFETY: plain kill(2) calls on pids that carry our alloc id.
        unsafe {
            let pgid = libc::getpgid(pid);
            if pgid > 1 && pgid != libc::getpgid(0) {
                libc::kill(-pgid, libc::SIGKILL);
            }
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Quotes `s` as an HCL string literal (escaping `"`, `\`, control
/// characters and template sequences `${` / `%{`).
pub fn hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_nomads() {
        let a = uuid();
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        let t = task_id(&a, "web");
        let parts: Vec<_> = t.split('/').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2].len(), 8);
        assert!(parts[2].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(uuid(), uuid());
    }

    #[test]
    fn hcl_strings_round_trip() {
        use nomad_plugin_sdk::config::schema::{self, attr};
        let spec = schema::object([("s", attr("string").required().into())]);
        for s in [
            "plain",
            "trap 'echo \"x\"' TERM\nwhile :; do sleep 1; done",
            "echo ${HOME} %{ if } \\ tab\there",
        ] {
            let hcl = format!("s = {}\n", hcl_string(s));
            let v = crate::hcl::decode_config(&hcl, &spec).expect("decodes");
            let bytes = nomad_plugin_sdk::config::msgpack::to_msgpack(&v).expect("encodes");
            let back: HashMap<String, String> =
                nomad_plugin_sdk::config::from_msgpack(&bytes).expect("decodes back");
            assert_eq!(back["s"], s);
        }
    }
}

//! Optional isolation of a task, chosen by the driver: PID, mount, IPC and
//! UTS namespaces, a chroot of the task directory built like Nomad's exec
//! driver (`local/`, `secrets/`, `tmp/`, `private/` of the task directory,
//! the allocation's `alloc/` mounted in, and `chroot_env` host paths
//! bind-mounted read-only), and `no_new_privs`.
//!
//! Every mount is made inside the task's own mount namespace, so none is
//! visible on the host and all of them go when the task's last process
//! does; on the host the task directory only gains the empty mount points.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ExecutorError;

/// The host paths Nomad's exec driver puts into a chroot by default
/// (`chroot_env`), each at the same path inside.
pub const DEFAULT_CHROOT_ENV: &[&str] = &[
    "/bin",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/run/resolvconf",
    "/sbin",
    "/usr",
];

/// Device nodes a chrooted task gets in its `/dev` (a tmpfs).
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// How a task is isolated. The default isolates nothing (raw_exec-like).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// A PID namespace: the task is pid 1 of its own and sees only its own
    /// processes; when it exits, the kernel kills what it left.
    pub pid_namespace: bool,
    /// A mount namespace (implied by `chroot`).
    pub mount_namespace: bool,
    /// An IPC namespace.
    pub ipc_namespace: bool,
    /// A UTS namespace, with this hostname when set.
    pub uts_namespace: bool,
    /// The hostname inside the UTS namespace.
    pub hostname: Option<String>,
    /// Run the task in a chroot of its task directory.
    pub chroot: Option<Chroot>,
    /// Set `no_new_privs`: setuid binaries and file capabilities grant
    /// the task nothing.
    pub no_new_privs: bool,
}

/// A chroot built like Nomad's exec driver builds one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chroot {
    /// The task directory (`alloc_dir/<task>`): the task's `/`.
    pub task_dir: PathBuf,
    /// The allocation's shared directory (`alloc_dir/alloc`), mounted at
    /// `/alloc`.
    pub alloc_shared_dir: PathBuf,
    /// Host path → path inside, bind-mounted read-only (`chroot_env`).
    pub env: BTreeMap<String, String>,
}

impl Chroot {
    /// The chroot of task `task_name` of the allocation at `alloc_dir`,
    /// with Nomad's default `chroot_env`.
    pub fn for_task(alloc_dir: &Path, task_name: &str) -> Self {
        Chroot {
            task_dir: alloc_dir.join(task_name),
            alloc_shared_dir: alloc_dir.join("alloc"),
            env: DEFAULT_CHROOT_ENV
                .iter()
                .map(|p| (p.to_string(), p.to_string()))
                .collect(),
        }
    }
}

impl Isolation {
    /// What Nomad's exec driver does: PID, mount and IPC namespaces, a
    /// chroot with the default `chroot_env`, `no_new_privs`.
    pub fn exec_driver(chroot: Chroot) -> Self {
        Isolation {
            pid_namespace: true,
            mount_namespace: true,
            ipc_namespace: true,
            uts_namespace: false,
            hostname: None,
            chroot: Some(chroot),
            no_new_privs: true,
        }
    }

    pub(crate) fn is_none(&self) -> bool {
        *self == Isolation::default()
    }

    /// The namespaces to unshare in the task's own process (`CLONE_NEWPID`
    /// is done by the supervisor, for the task to be the new pid 1).
    fn unshare_flags(&self) -> libc::c_int {
        let mut f = 0;
        if self.mount_namespace || self.chroot.is_some() {
            f |= libc::CLONE_NEWNS;
        }
        if self.ipc_namespace {
            f |= libc::CLONE_NEWIPC;
        }
        if self.uts_namespace {
            f |= libc::CLONE_NEWUTS;
        }
        f
    }

    /// Every namespace of the task, for `setns` when exec enters it.
    pub(crate) fn setns_flags(&self) -> libc::c_int {
        let mut f = self.unshare_flags();
        if self.pid_namespace {
            f |= libc::CLONE_NEWPID;
        }
        f
    }
}

fn cstr(p: impl AsRef<Path>) -> Result<CString, ExecutorError> {
    CString::new(p.as_ref().as_os_str().as_encoded_bytes()).map_err(|_| {
        ExecutorError::Unsatisfiable {
            field: "config",
            message: format!("path {} contains a NUL byte", p.as_ref().display()),
        }
    })
}

/// Resolves `inside` (absolute, inside the chroot) under `root`, refusing
/// `..`.
fn under(root: &Path, inside: &str) -> Result<PathBuf, ExecutorError> {
    let rel = Path::new(inside.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(ExecutorError::Unsatisfiable {
            field: "chroot_env",
            message: format!("{inside:?} is not a plain absolute path"),
        });
    }
    Ok(root.join(rel))
}

/// One mount the child makes.
#[derive(Debug)]
struct BindMount {
    src: CString,
    dst: CString,
    read_only: bool,
}

/// Everything the task's child process does to isolate itself, prepared
/// (paths as C strings, mount points created) before the fork, so the
/// child only makes async-signal-safe system calls.
#[derive(Debug, Default)]
pub(crate) struct ChildIsolation {
    unshare: libc::c_int,
    hostname: Option<CString>,
    binds: Vec<BindMount>,
    proc_dir: Option<CString>,
    dev: Option<(CString, Vec<(CString, CString)>)>,
    root: Option<CString>,
    cwd: Option<CString>,
    no_new_privs: bool,
}

impl ChildIsolation {
    /// Prepares `iso` for a child whose working directory inside is `cwd`
    /// (an absolute path inside the chroot when there is one).
    pub(crate) fn prepare(iso: &Isolation, cwd: &Path) -> Result<Self, ExecutorError> {
        let mut c = ChildIsolation {
            unshare: iso.unshare_flags(),
            hostname: iso
                .hostname
                .as_ref()
                .map(|h| CString::new(h.as_str()))
                .transpose()
                .map_err(|_| ExecutorError::Unsatisfiable {
                    field: "hostname",
                    message: "contains a NUL byte".into(),
                })?,
            no_new_privs: iso.no_new_privs,
            ..Default::default()
        };
        let Some(ch) = &iso.chroot else {
            return Ok(c);
        };
        let mkdir = |p: &Path| {
            std::fs::create_dir_all(p)
                .map_err(|e| ExecutorError::io(format!("creating {}", p.display()), e))
        };
        if !ch.task_dir.is_dir() {
            return Err(ExecutorError::Unsatisfiable {
                field: "task_dir",
                message: format!("{} is not a directory", ch.task_dir.display()),
            });
        }
        for (host, inside) in &ch.env {
            let src = Path::new(host);
            let Ok(meta) = std::fs::metadata(src) else {
                // Like Nomad, a chroot_env entry the host lacks is skipped.
                continue;
            };
            let dst = under(&ch.task_dir, inside)?;
            if meta.is_dir() {
                mkdir(&dst)?;
            } else {
                if let Some(parent) = dst.parent() {
                    mkdir(parent)?;
                }
                if !dst.exists() {
                    std::fs::File::create(&dst)
                        .map_err(|e| ExecutorError::io(format!("creating {}", dst.display()), e))?;
                }
            }
            c.binds.push(BindMount {
                src: cstr(src)?,
                dst: cstr(&dst)?,
                read_only: true,
            });
        }
        let alloc = ch.task_dir.join("alloc");
        mkdir(&alloc)?;
        c.binds.push(BindMount {
            src: cstr(&ch.alloc_shared_dir)?,
            dst: cstr(&alloc)?,
            read_only: false,
        });
        for sub in ["local", "secrets", "tmp", "private"] {
            mkdir(&ch.task_dir.join(sub))?;
        }
        let proc_dir = ch.task_dir.join("proc");
        mkdir(&proc_dir)?;
        c.proc_dir = Some(cstr(&proc_dir)?);
        let dev = ch.task_dir.join("dev");
        mkdir(&dev)?;
        let nodes = DEVICES
            .iter()
            .filter(|d| Path::new("/dev").join(d).exists())
            .map(|d| Ok((cstr(Path::new("/dev").join(d))?, cstr(dev.join(d))?)))
            .collect::<Result<Vec<_>, ExecutorError>>()?;
        c.dev = Some((cstr(&dev)?, nodes));
        c.root = Some(cstr(&ch.task_dir)?);
        c.cwd = Some(cstr(cwd)?);
        Ok(c)
    }

    /// Runs in the forked child, as root, after it joined its cgroup and
    /// before it drops privileges.
    pub(crate) fn apply(&self) -> std::io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc != 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        let null = std::ptr::null::<libc::c_char>();
        // SAFETY (whole block): plain system calls on C strings prepared
        // before the fork and owned by `self`; no allocation happens here.
        unsafe {
            if self.unshare != 0 {
                check(libc::unshare(self.unshare))?;
            }
            if self.unshare & libc::CLONE_NEWNS != 0 {
                // Nothing we mount may propagate back to the host.
                check(libc::mount(
                    null,
                    c"/".as_ptr(),
                    null,
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
            }
            if let Some(h) = &self.hostname {
                check(libc::sethostname(h.as_ptr(), h.as_bytes().len()))?;
            }
            for b in &self.binds {
                check(libc::mount(
                    b.src.as_ptr(),
                    b.dst.as_ptr(),
                    null,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                if b.read_only {
                    check(libc::mount(
                        null,
                        b.dst.as_ptr(),
                        null,
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC,
                        std::ptr::null(),
                    ))?;
                }
            }
            if let Some(p) = &self.proc_dir {
                check(libc::mount(
                    c"proc".as_ptr(),
                    p.as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                ))?;
            }
            if let Some((dev, nodes)) = &self.dev {
                check(libc::mount(
                    c"tmpfs".as_ptr(),
                    dev.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID,
                    c"mode=755".as_ptr().cast(),
                ))?;
                for (src, dst) in nodes {
                    let fd = libc::open(
                        dst.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                        0o666,
                    );
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(fd);
                    check(libc::mount(
                        src.as_ptr(),
                        dst.as_ptr(),
                        null,
                        libc::MS_BIND,
                        std::ptr::null(),
                    ))?;
                }
            }
            if let Some(root) = &self.root {
                check(libc::chroot(root.as_ptr()))?;
                let cwd = self.cwd.as_ref().map_or(c"/".as_ptr(), |c| c.as_ptr());
                if libc::chdir(cwd) != 0 {
                    check(libc::chdir(c"/".as_ptr()))?;
                }
            }
            if self.no_new_privs {
                check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroot_paths_stay_inside() {
        assert_eq!(
            under(Path::new("/t"), "/usr/bin").unwrap(),
            Path::new("/t/usr/bin")
        );
        assert!(under(Path::new("/t"), "/../etc").is_err());
        let iso = Isolation::exec_driver(Chroot::for_task(Path::new("/a"), "web"));
        assert_eq!(iso.setns_flags() & libc::CLONE_NEWPID, libc::CLONE_NEWPID);
        assert_eq!(iso.unshare_flags() & libc::CLONE_NEWPID, 0);
        assert_eq!(iso.chroot.unwrap().task_dir, Path::new("/a/web"));
    }
}

//! Shared helpers for the testkit's integration tests: building the binaries
//! under test (Rust examples with cargo, interop hosts with Go).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_path_buf()
}

/// The shared target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// Builds an example (debug) and returns the binary's path. It is built
/// with the same workspace-wide flags as `cargo xtask test`
/// (`--workspace --all-features`), so it shares that build's artifacts and
/// has every optional feature (AutoMTLS included).
pub fn example(_package: &str, name: &str) -> PathBuf {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root())
        .args([
            "build",
            "--quiet",
            "--workspace",
            "--all-features",
            "--example",
            name,
        ])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build of example {name} failed");
    let path = target_dir().join("debug").join("examples").join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// Builds a binary package of a workspace crate and returns its path.
pub fn bin(package: &str, name: &str) -> PathBuf {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root())
        .args([
            "build",
            "--quiet",
            "--workspace",
            "--all-features",
            "--bin",
            name,
        ])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build of {package}/{name} failed");
    target_dir().join("debug").join(name)
}

/// The Go toolchain: `go` on PATH, or the usual install location.
pub fn go() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/local/go/bin")]);
    for dir in candidates {
        let go = dir.join("go");
        if go.is_file() {
            return go;
        }
    }
    panic!(
        "the interop tests need the Go toolchain: install Go and put `go` on PATH \
         (`cargo xtask test` checks this first)"
    );
}

/// Builds the Go interop program `interop/cmd/NAME` and returns its path.
pub fn go_host(name: &str) -> PathBuf {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = target_dir().join("interop").join(name);
    let status = Command::new(go())
        .current_dir(root().join("nomad-plugin-testkit/interop"))
        .args(["build", "-o"])
        .arg(&out)
        .arg(format!("./cmd/{name}"))
        .status()
        .expect("run go build");
    assert!(status.success(), "go build of interop/cmd/{name} failed");
    out
}

/// Waits for process `pid` (not our child, so `wait` cannot be used) to be
/// gone, without polling in a loop: pidfd_open, then poll(2) on it.
pub async fn wait_pid_gone(pid: i32, timeout: std::time::Duration) -> bool {
    tokio::task::spawn_blocking(move || {
        // SAFETY: plain syscall; the returned descriptor is checked and closed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            // ESRCH: already gone.
            return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        }
        let mut pfd = libc::pollfd {
            fd: fd as i32,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd; the descriptor is closed right after.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        unsafe { libc::close(fd as i32) };
        n == 1
    })
    .await
    .unwrap_or(false)
}

/// Builds kubernetes-csi's `csi-sanity` at the version pinned in
/// `interop/csi-sanity/go.mod` (its own module, so its dependencies never
/// meet the go-plugin interop module's) and returns its path.
pub fn csi_sanity() -> PathBuf {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = target_dir().join("interop").join("csi-sanity");
    let status = Command::new(go())
        .current_dir(root().join("nomad-plugin-testkit/interop/csi-sanity"))
        .args(["build", "-o"])
        .arg(&out)
        .arg("github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity")
        .status()
        .expect("run go build");
    assert!(status.success(), "go build of csi-sanity failed");
    out
}

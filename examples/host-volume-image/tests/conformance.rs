//! Runs the plugin binary exactly as Nomad does, through the testkit.
//!
//! Image mode needs root and working loop devices. Where they are missing
//! (many containers) the same tests exercise the plain-directory fallback and
//! say so in their output (`cargo test -- --nocapture`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nomad_plugin_testkit::common::{
    install_plugin, CheckStatus, HostVolumeCaller, HostVolumeSuite, VolumeRequest,
};

const ID: &str = "host-volume-image";
const MIB: i64 = 1 << 20;

/// Installs the plugin once, before any test starts a process (a file open
/// for writing while another thread forks makes exec fail with ETXTBSY).
fn plugin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("host-volume-image-plugins");
        install_plugin(Path::new(env!("CARGO_BIN_EXE_host-volume-image")), &dir, ID)
            .expect("install the plugin");
        dir
    })
}

/// Image-mode tests take turns: loop devices are few.
static LOOPS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Same detection as the plugin: root, tools, a free loop device.
fn loop_devices() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Err("no /dev/loop-control".into());
    }
    for tool in [
        "mkfs.ext4",
        "losetup",
        "mount",
        "umount",
        "resize2fs",
        "e2fsck",
    ] {
        if !["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file())
        {
            return Err(format!(
                "{tool} not installed (apt-get install e2fsprogs mount)"
            ));
        }
    }
    let status = std::process::Command::new("losetup")
        .arg("--find")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err("no free loop device".into())
    }
}

fn announce(test: &str) -> bool {
    match loop_devices() {
        Ok(()) => {
            println!("{test}: loop devices usable: exercising the ext4 image mode");
            true
        }
        Err(why) => {
            println!(
                "{test}: loop devices unavailable ({why}): exercising the plain-directory fallback"
            );
            false
        }
    }
}

/// A volumes directory that unmounts anything left under it before it is
/// removed, so a failed test cannot leave mounts behind.
struct Volumes(tempfile::TempDir);

impl Volumes {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temp dir"))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Volumes {
    fn drop(&mut self) {
        for m in mounts_under(self.path()) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&m)
                .status();
        }
    }
}

fn mountinfo() -> Vec<(PathBuf, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let target = left.split(' ').nth(4)?;
            let fstype = right.split(' ').next()?;
            Some((PathBuf::from(target), fstype.to_owned()))
        })
        .collect()
}

fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    mountinfo()
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| t.starts_with(dir))
        .collect()
}

fn fs_type(path: &Path) -> Option<String> {
    mountinfo()
        .into_iter()
        .rev()
        .find(|(t, _)| t == path)
        .map(|(_, f)| f)
}

fn fs_size(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: statvfs writes into the zeroed struct we pass.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::statvfs(c.as_ptr(), &mut st) },
        0,
        "statvfs {}",
        path.display()
    );
    st.f_blocks as u64 * st.f_frsize as u64
}

fn assert_ran(report: &nomad_plugin_testkit::common::SuiteReport, names: &[&str]) {
    for n in names {
        assert_eq!(
            report.status(n),
            Some(CheckStatus::Passed),
            "{n} did not pass:\n{report}"
        );
    }
}

#[tokio::test]
async fn directory_backend_passes_the_suite() {
    let plugins = plugin_dir();
    let volumes = Volumes::new();
    let report = HostVolumeSuite::new(plugins, ID, volumes.path())
        .parameters([("backend", "directory")])
        .capacity(8 * MIB, 64 * MIB)
        .expand_to(16 * MIB)
        .invalid_parameters([("backend", "zfs")])
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
    assert_ran(
        &report,
        &[
            "reserved-id",
            "fingerprint",
            "create",
            "create-again",
            "expand",
            "auto-delete",
            "concurrent-creates",
            "create-failure",
            "delete",
            "delete-again",
        ],
    );
}

#[tokio::test]
async fn default_backend_passes_the_suite() {
    let plugins = plugin_dir();
    let _turn = LOOPS.lock().await;
    announce("default_backend_passes_the_suite");
    let volumes = Volumes::new();
    let report = HostVolumeSuite::new(plugins, ID, volumes.path())
        .capacity(8 * MIB, 0)
        .expand_to(12 * MIB)
        .concurrency(2)
        .invalid_parameters([("size", "10G")])
        .run()
        .await;
    println!("{report}");
    report.assert_passed();
    assert_ran(
        &report,
        &[
            "create",
            "create-again",
            "expand",
            "auto-delete",
            "concurrent-creates",
            "create-failure",
            "delete",
            "delete-again",
        ],
    );
    assert!(
        mounts_under(volumes.path()).is_empty(),
        "mounts left behind"
    );
}

#[tokio::test]
async fn volume_lifecycle() {
    let plugins = plugin_dir();
    let _turn = LOOPS.lock().await;
    let image_mode = announce("volume_lifecycle");
    let volumes = Volumes::new();
    let caller = HostVolumeCaller::new(plugins, ID, volumes.path());
    let small = VolumeRequest::new("data").capacity(8 * MIB, 0);

    let created = caller.create(&small).await.result.expect("create");
    let path = PathBuf::from(&created.path);
    assert_eq!(path, volumes.path().join(&small.id));
    std::fs::write(path.join("payload"), "survives expansion").expect("write into the volume");

    let image = volumes
        .path()
        .join(".host-volume-image")
        .join(format!("{}.img", small.id));
    if image_mode {
        assert_eq!(
            fs_type(&path).as_deref(),
            Some("ext4"),
            "the volume is a mounted ext4 fs"
        );
        assert_eq!(created.bytes, 8 * MIB);
        let size = fs_size(&path);
        assert!(
            size > 6 * MIB as u64 && size <= 8 * MIB as u64,
            "fs size {size}"
        );
    } else {
        assert_eq!(fs_type(&path), None);
        assert_eq!(created.bytes, 0, "a directory volume has no size");
    }

    // Update with a larger capacity: grows online, keeps the data.
    let big = VolumeRequest {
        capacity_min_bytes: 24 * MIB,
        ..small.clone()
    };
    let grown = caller.create(&big).await.result.expect("expand");
    assert_eq!(grown.path, created.path);
    assert_eq!(
        std::fs::read_to_string(path.join("payload")).unwrap(),
        "survives expansion"
    );
    if image_mode {
        assert_eq!(grown.bytes, 24 * MIB);
        assert!(
            fs_size(&path) > 20 * MIB as u64,
            "fs grew to {}",
            fs_size(&path)
        );
        // Restore with the original request never shrinks the volume.
        let restored = caller.create(&small).await.result.expect("restore");
        assert_eq!(
            (restored.path.as_str(), restored.bytes),
            (created.path.as_str(), 24 * MIB)
        );
    }

    caller
        .delete(&small, &created.path)
        .await
        .result
        .expect("delete");
    assert!(!path.exists(), "volume directory removed");
    assert_eq!(fs_type(&path), None, "unmounted");
    assert!(!image.exists(), "image removed");
    if image_mode {
        let out = std::process::Command::new("losetup")
            .arg("-j")
            .arg(&image)
            .output()
            .expect("losetup");
        assert!(
            out.stdout.is_empty(),
            "loop device still attached: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    caller
        .delete(&small, &created.path)
        .await
        .result
        .expect("delete again");
}

#[tokio::test]
async fn explicit_image_backend_fails_clearly_without_loop_devices() {
    let plugins = plugin_dir();
    let _turn = LOOPS.lock().await;
    let volumes = Volumes::new();
    let caller = HostVolumeCaller::new(plugins, ID, volumes.path());
    let req = VolumeRequest::new("img")
        .capacity(4 * MIB, 0)
        .parameters([("backend", "image")]);
    let call = caller.create(&req).await;
    match loop_devices() {
        Ok(()) => {
            let v = call.result.expect("image create");
            assert_eq!(fs_type(Path::new(&v.path)).as_deref(), Some("ext4"));
            caller.delete(&req, &v.path).await.result.expect("delete");
        }
        Err(why) => {
            println!("loop devices unavailable ({why}): checking the error an operator would read");
            let err = call.result.expect_err("image mode cannot work here");
            assert!(err.contains("\"image\" needs loop devices"), "{err}");
            assert!(
                !volumes.path().join(&req.id).exists(),
                "nothing left behind"
            );
        }
    }
}

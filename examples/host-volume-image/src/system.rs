//! The host facilities the plugin uses: helper programs found by absolute
//! path (Nomad passes no `PATH`), the mount table, and file locks.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use nomad_plugin_sdk::host_volume::HostVolumeError;

/// Where helper programs are looked for, in order.
const SEARCH: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// The PATH given to helper programs (which may run helpers of their own).
const CHILD_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Absolute path of `name`, if installed.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    SEARCH
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// The helper programs image mode needs.
#[derive(Debug, Clone)]
pub struct Tools {
    pub mkfs: PathBuf,
    pub losetup: PathBuf,
    pub mount: PathBuf,
    pub umount: PathBuf,
    pub resize2fs: PathBuf,
    pub e2fsck: PathBuf,
}

impl Tools {
    /// All tools, or the name of the first one missing.
    pub fn find() -> Result<Self, &'static str> {
        let get = |name: &'static str| find_tool(name).ok_or(name);
        Ok(Self {
            mkfs: get("mkfs.ext4")?,
            losetup: get("losetup")?,
            mount: get("mount")?,
            umount: get("umount")?,
            resize2fs: get("resize2fs")?,
            e2fsck: get("e2fsck")?,
        })
    }
}

/// Whether image mode can work here: root, the tools, and a free loop
/// device (`losetup --find` fails in containers without loop devices).
pub async fn loop_support() -> Result<Tools, String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root".into());
    }
    let tools = Tools::find().map_err(|t| format!("{t} is not installed"))?;
    if !Path::new("/dev/loop-control").exists() {
        return Err("/dev/loop-control does not exist".into());
    }
    run(&tools.losetup, &["--find"])
        .await
        .map_err(|e| format!("no free loop device: {e}"))?;
    Ok(tools)
}

/// Runs a helper program with captured output (never the plugin's stdout)
/// and returns its stdout; a failure carries its stderr.
pub async fn run(program: &Path, args: &[&str]) -> Result<String, HostVolumeError> {
    run_accepting(program, args, 0).await
}

/// [`run`], also accepting exit statuses up to `max_ok` (e2fsck exits 1
/// after correcting errors).
pub async fn run_accepting(
    program: &Path,
    args: &[&str],
    max_ok: i32,
) -> Result<String, HostVolumeError> {
    let what = format!("{} {}", program.display(), args.join(" "));
    tracing::debug!("running {what}");
    let out = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", CHILD_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| HostVolumeError::io(format!("running {what}"), e))?;
    if out.status.code().is_some_and(|c| (0..=max_ok).contains(&c)) {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HostVolumeError::other(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A mounted file system from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub target: PathBuf,
    pub source: String,
    pub fstype: String,
}

/// Decodes the octal escapes (`\040` for a space) of mountinfo fields.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let target = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            let fstype = r.next()?;
            let source = r.next()?;
            Some(Mount {
                target: PathBuf::from(unescape(target)),
                source: unescape(source),
                fstype: fstype.to_owned(),
            })
        })
        .collect()
}

/// The file system mounted at `path` (the last one, if stacked).
pub async fn mount_at(path: &Path) -> Result<Option<Mount>, HostVolumeError> {
    let text = tokio::fs::read_to_string("/proc/self/mountinfo")
        .await
        .map_err(|e| HostVolumeError::io("reading /proc/self/mountinfo", e))?;
    Ok(parse_mountinfo(&text)
        .into_iter()
        .rev()
        .find(|m| m.target == path))
}

/// An exclusive `flock` on a per-volume lock file, held until dropped, so
/// concurrent runs for the same volume take turns.
pub struct VolumeLock {
    _file: std::fs::File,
}

impl VolumeLock {
    pub async fn acquire(path: PathBuf) -> Result<Self, HostVolumeError> {
        tokio::task::spawn_blocking(move || {
            use std::os::fd::AsRawFd;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| HostVolumeError::io(format!("opening lock {}", path.display()), e))?;
            // SAFETY: flock on a descriptor we own; blocks until granted.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(HostVolumeError::io(
                    format!("locking {}", path.display()),
                    std::io::Error::last_os_error(),
                ));
            }
            Ok(Self { _file: file })
        })
        .await
        .map_err(|e| HostVolumeError::other(format!("lock task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields_and_escapes() {
        let text =
            "36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - ext4 /dev/loop3 rw,errors=continue\n\
                    37 35 98:0 / /srv rw shared:2 - tmpfs tmpfs rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].target, Path::new("/mnt/a b"));
        assert_eq!(
            (m[0].source.as_str(), m[0].fstype.as_str()),
            ("/dev/loop3", "ext4")
        );
        assert_eq!(m[1].target, Path::new("/srv"));
    }
}

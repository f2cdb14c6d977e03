//! Bind mounts (the real thing, as root) with a clearly logged fallback to
//! symlinks where the kernel does not let us mount (no CAP_SYS_ADMIN).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// How volumes are made visible at staging and target paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountMode {
    /// Try bind mounts; fall back to symlinks on EPERM.
    Auto,
    /// Bind mounts only.
    Bind,
    /// Symlinks only (for unprivileged development; a container cannot
    /// follow a symlink to a host path).
    Symlink,
}

pub struct Mounter {
    mode: MountMode,
    fell_back: AtomicBool,
}

fn cstr(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)
}

impl Mounter {
    pub fn new(mode: MountMode) -> Self {
        Mounter {
            mode,
            fell_back: AtomicBool::new(mode == MountMode::Symlink),
        }
    }

    /// Whether this process uses symlinks instead of mounts.
    pub fn uses_symlinks(&self) -> bool {
        self.fell_back.load(Ordering::Relaxed)
    }

    /// Makes `source` visible at `target` (an existing directory for bind
    /// mounts; for symlinks the directory is replaced by a link when empty).
    pub fn bind(&self, source: &Path, target: &Path, readonly: bool) -> std::io::Result<()> {
        if !self.uses_symlinks() {
            match bind_mount(source, target, readonly) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EPERM) && self.mode == MountMode::Auto => {
                    self.fell_back.store(true, Ordering::Relaxed);
                    tracing::warn!(
                        "bind mounts are not permitted here (run the plugin as root with \
                         CAP_SYS_ADMIN, e.g. privileged = true in Nomad); falling back to \
                         symlinks, which tasks in containers cannot follow"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        if target.is_dir() {
            std::fs::remove_dir(target)?;
        }
        std::os::unix::fs::symlink(source, target)
    }

    /// Undoes [`bind`](Self::bind) at `target`; nothing there is fine.
    pub fn unbind(&self, target: &Path) -> std::io::Result<()> {
        if std::fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink()) {
            return std::fs::remove_file(target);
        }
        if is_mount_point(target)? {
            let c = cstr(target)?;
            // SAFETY: valid NUL-terminated path; umount2 has no other inputs.
            if unsafe { libc::umount2(c.as_ptr(), 0) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Whether `target` currently shows a volume (mount point or symlink).
    pub fn is_bound(&self, target: &Path) -> std::io::Result<bool> {
        if std::fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(true);
        }
        is_mount_point(target)
    }
}

fn bind_mount(source: &Path, target: &Path, readonly: bool) -> std::io::Result<()> {
    let (src, dst) = (cstr(source)?, cstr(target)?);
    let fs = CString::new("none").map_err(std::io::Error::other)?;
    // SAFETY: valid NUL-terminated strings; data is null for bind mounts.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            fs.as_ptr(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if readonly {
        // A bind mount only becomes read-only through a remount.
        // SAFETY: as above.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                fs.as_ptr(),
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            // SAFETY: as above.
            unsafe { libc::umount2(dst.as_ptr(), 0) };
            return Err(err);
        }
    }
    Ok(())
}

/// Unescapes a mountinfo path (`\040` for space and friends).
fn unescape(s: &str) -> PathBuf {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).ok();
            if let Some(v) = digits.and_then(|d| u8::from_str_radix(d, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

/// Whether `path` is a mount point, per /proc/self/mountinfo.
pub fn is_mount_point(path: &Path) -> std::io::Result<bool> {
    let path = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape(mp) == path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape("/a\\040b"), PathBuf::from("/a b"));
        assert_eq!(unescape("/plain"), PathBuf::from("/plain"));
        assert_eq!(unescape("/end\\"), PathBuf::from("/end\\"));
    }

    #[test]
    fn root_is_a_mount_point() {
        assert!(is_mount_point(Path::new("/")).unwrap());
        assert!(!is_mount_point(Path::new("/definitely/not/here")).unwrap());
    }
}

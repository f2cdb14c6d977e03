//! Making a volume directory visible at the path Nomad gives: a bind
//! mount, as Nomad expects (the plugin task runs privileged), or where the
//! plugin may not mount (a developer's `cargo test` without root) a
//! symlink, which a task in a container cannot follow.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nomad_plugin_sdk::csi::{CsiError, CsiResult};

fn cstr(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)
}

/// Whether `target` already shows the directory `source` (through a bind
/// mount or a symlink: both resolve to the same inode).
pub fn shows(target: &Path, source: &Path) -> std::io::Result<bool> {
    let (t, s) = match (std::fs::metadata(target), std::fs::metadata(source)) {
        (Ok(t), Ok(s)) => (t, s),
        (Err(e), _) | (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    Ok((t.dev(), t.ino()) == (s.dev(), s.ino()))
}

/// Makes `source` visible at `target`, which the plugin creates.
pub fn publish(source: &Path, target: &Path, readonly: bool) -> CsiResult<()> {
    match std::fs::create_dir(target) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e.into()),
        _ => {}
    }
    match bind_mount(source, target, readonly) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            if readonly {
                return Err(CsiError::FailedPrecondition(
                    "a read-only publish needs a bind mount: run the plugin privileged".into(),
                ));
            }
            tracing::warn!(
                target = %target.display(),
                "not permitted to mount (run the plugin privileged); publishing a symlink, \
                 which tasks in containers cannot follow"
            );
            std::fs::remove_dir(target)?;
            std::os::unix::fs::symlink(source, target)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Undoes [`publish`] and removes `target`; nothing there is fine.
pub fn unpublish(target: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(m) if m.file_type().is_symlink() => return std::fs::remove_file(target),
        Ok(_) => {}
    }
    let path = cstr(target)?;
    // SAFETY: a valid NUL-terminated path; umount2 has no other inputs.
    if unsafe { libc::umount2(path.as_ptr(), 0) } != 0 {
        let e = std::io::Error::last_os_error();
        // EINVAL: not a mount point. EPERM: we may not mount, so we did
        // not; if it is a mount after all, remove_dir says so (EBUSY).
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EPERM)) {
            return Err(e);
        }
    }
    match std::fs::remove_dir(target) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn bind_mount(source: &Path, target: &Path, readonly: bool) -> std::io::Result<()> {
    let (src, dst) = (cstr(source)?, cstr(target)?);
    let mount = |flags| {
        // SAFETY: valid NUL-terminated paths; bind mounts take no file
        // system type or data.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                std::ptr::null(),
                flags,
                std::ptr::null(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    mount(libc::MS_BIND)?;
    if readonly {
        // A bind mount only becomes read-only through a remount.
        if let Err(e) = mount(libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY) {
            // SAFETY: as above.
            unsafe { libc::umount2(dst.as_ptr(), 0) };
            return Err(e);
        }
    }
    Ok(())
}

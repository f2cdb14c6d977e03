//! Binding the plugin's listener: a Unix socket named like go-plugin's, or a
//! loopback TCP port within the host's range.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};

use super::env::PluginEnv;
use super::error::ServeError;
use super::handshake::Network;

/// A bound listener, ready to serve.
#[derive(Debug)]
pub(crate) enum Bound {
    Unix {
        listener: UnixListener,
        socket: SocketFile,
    },
    Tcp {
        listener: TcpListener,
        address: String,
    },
}

impl Bound {
    pub(crate) fn network(&self) -> Network {
        match self {
            Bound::Unix { .. } => Network::Unix,
            Bound::Tcp { .. } => Network::Tcp,
        }
    }

    pub(crate) fn address(&self) -> String {
        match self {
            Bound::Unix { socket, .. } => socket.0.display().to_string(),
            Bound::Tcp { address, .. } => address.clone(),
        }
    }
}

/// Removes the socket file when dropped, so a stopped plugin leaves nothing
/// behind in the socket directory.
#[derive(Debug)]
pub(crate) struct SocketFile(pub(crate) PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn random_suffix() -> u32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish() as u32
}

/// Binds `plugin<random digits>` in the socket directory, as go-plugin does
/// with `os.CreateTemp(dir, "plugin")`.
pub(crate) fn bind_unix(env: &PluginEnv) -> Result<Bound, ServeError> {
    let dir = env.socket_dir();
    let mut last_err = None;
    for _ in 0..32 {
        let path = dir.join(format!("plugin{}", random_suffix()));
        if path.exists() {
            continue;
        }
        match UnixListener::bind(&path) {
            Ok(listener) => {
                let socket = SocketFile(path);
                if let Some(group) = &env.unix_socket_group {
                    set_group(&socket.0, group)?;
                }
                return Ok(Bound::Unix { listener, socket });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(source) => {
                return Err(ServeError::Listen {
                    address: path.display().to_string(),
                    source,
                })
            }
        }
    }
    Err(ServeError::Listen {
        address: dir.display().to_string(),
        source: last_err.unwrap_or_else(|| std::io::Error::other("no free socket name")),
    })
}

/// Gives the socket to a group and makes it group read/writable (0660), as
/// go-plugin does for `PLUGIN_UNIX_SOCKET_GROUP`.
fn set_group(path: &Path, group: &str) -> Result<(), ServeError> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |reason: String| ServeError::SocketGroup {
        path: path.to_path_buf(),
        group: group.to_string(),
        reason,
    };
    let gid = match group.parse::<u32>() {
        Ok(gid) => gid,
        Err(_) => lookup_group(group).ok_or_else(|| fail("no such group".into()))?,
    };
    std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| fail(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| fail(e.to_string()))
}

/// Resolves a group name through the system's group database.
fn lookup_group(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer refers to memory owned by this frame, `buf` is
    // large enough for ordinary group entries and its length is passed along.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some(grp.gr_gid)
}

/// Binds the first free port of the host's range on 127.0.0.1 (any port
/// when the range is unset), as go-plugin does where Unix sockets are not
/// available.
pub(crate) async fn bind_tcp(env: &PluginEnv) -> Result<Bound, ServeError> {
    let (min, max) = env.port_range()?;
    for port in min..=max {
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
            let address = listener
                .local_addr()
                .map_err(|source| ServeError::Io {
                    context: "reading the TCP listener's address",
                    source,
                })?
                .to_string();
            return Ok(Bound::Tcp { listener, address });
        }
    }
    Err(ServeError::NoFreePort { min, max })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Handshake;

    fn env_with(dir: &Path, group: Option<&str>) -> PluginEnv {
        let mut vars = vec![(
            "PLUGIN_UNIX_SOCKET_DIR".to_string(),
            dir.display().to_string(),
        )];
        if let Some(g) = group {
            vars.push(("PLUGIN_UNIX_SOCKET_GROUP".to_string(), g.to_string()));
        }
        PluginEnv::from_vars(&Handshake::NOMAD, vars)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("npsdk-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[tokio::test]
    async fn unix_socket_is_named_and_removed() {
        let dir = scratch("unix");
        let bound = bind_unix(&env_with(&dir, None)).expect("bind");
        let addr = bound.address();
        let name = Path::new(&addr)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        assert!(name.starts_with("plugin"), "{name}");
        assert!(name["plugin".len()..].chars().all(|c| c.is_ascii_digit()));
        assert!(Path::new(&addr).exists());
        drop(bound);
        assert!(!Path::new(&addr).exists(), "socket file left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn socket_group_sets_mode_0660() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = scratch("group");
        let bound = bind_unix(&env_with(&dir, Some("0"))).expect("bind");
        let meta = std::fs::metadata(bound.address()).expect("stat");
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        assert_eq!(meta.gid(), 0);
        drop(bound);
        let err = bind_unix(&env_with(&dir, Some("no-such-group-npsdk"))).unwrap_err();
        assert!(err.to_string().contains("no such group"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn tcp_binds_within_range() {
        let env = PluginEnv::from_vars(
            &Handshake::NOMAD,
            [
                ("PLUGIN_MIN_PORT".to_string(), "0".to_string()),
                ("PLUGIN_MAX_PORT".to_string(), "0".to_string()),
            ],
        );
        let bound = bind_tcp(&env).await.expect("bind");
        assert!(bound.address().starts_with("127.0.0.1:"));
        assert_eq!(bound.network(), Network::Tcp);
    }
}

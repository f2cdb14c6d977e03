//! The environment a go-plugin host hands its plugin, as typed values.

use std::collections::HashMap;
use std::path::PathBuf;

use super::error::ServeError;
use super::handshake::{parse_protocol_versions, Handshake};

/// Everything the runtime reads from the environment, parsed.
///
/// [`PluginEnv::from_process`] reads the real environment; tests build one
/// with [`PluginEnv::from_vars`] so they need not touch global state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginEnv {
    /// The value of the handshake's cookie variable, if set.
    pub magic_cookie: Option<String>,
    /// `PLUGIN_PROTOCOL_VERSIONS`, parsed (unparsable entries dropped).
    pub protocol_versions: Vec<u32>,
    /// Entries of `PLUGIN_PROTOCOL_VERSIONS` that were not integers.
    pub invalid_protocol_versions: Vec<String>,
    /// `PLUGIN_MIN_PORT` (TCP listeners only).
    pub min_port: Option<String>,
    /// `PLUGIN_MAX_PORT` (TCP listeners only).
    pub max_port: Option<String>,
    /// `PLUGIN_UNIX_SOCKET_DIR`: where to create the socket.
    pub unix_socket_dir: Option<PathBuf>,
    /// `PLUGIN_UNIX_SOCKET_GROUP`: group name or id to own the socket.
    pub unix_socket_group: Option<String>,
    /// `PLUGIN_CLIENT_CERT`: the host's PEM certificate; set means AutoMTLS.
    pub client_cert: Option<String>,
    /// `PLUGIN_MULTIPLEX_GRPC`, verbatim.
    pub multiplex_grpc: Option<String>,
    /// `TMPDIR`, the fallback socket directory.
    pub tmpdir: Option<PathBuf>,
    /// [`ATTACH_ENV`](super::ATTACH_ENV) is set to `1` or `true`: the
    /// plugin was started by hand, for a host to attach to later.
    pub attach: bool,
}

impl PluginEnv {
    /// Reads the process environment for the given handshake.
    pub fn from_process(handshake: &Handshake) -> Self {
        Self::from_vars(
            handshake,
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Builds the environment from explicit variables.
    ///
    /// ```
    /// use nomad_plugin_sdk::runtime::{Handshake, PluginEnv};
    ///
    /// let env = PluginEnv::from_vars(&Handshake::NOMAD, [
    ///     ("NOMAD_PLUGIN_MAGIC_COOKIE".to_string(), Handshake::NOMAD.magic_cookie_value.to_string()),
    ///     ("PLUGIN_PROTOCOL_VERSIONS".to_string(), "2".to_string()),
    /// ]);
    /// assert!(env.check_cookie(&Handshake::NOMAD).is_ok());
    /// assert_eq!(env.protocol_versions, vec![2]);
    /// ```
    pub fn from_vars<I>(handshake: &Handshake, vars: I) -> Self
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let map: HashMap<String, String> = vars.into_iter().collect();
        let get = |k: &str| map.get(k).cloned();
        let non_empty = |k: &str| map.get(k).filter(|v| !v.is_empty()).cloned();
        let (protocol_versions, invalid_protocol_versions) =
            parse_protocol_versions(map.get("PLUGIN_PROTOCOL_VERSIONS").map_or("", |s| s));
        PluginEnv {
            magic_cookie: get(handshake.magic_cookie_key),
            protocol_versions,
            invalid_protocol_versions,
            min_port: non_empty("PLUGIN_MIN_PORT"),
            max_port: non_empty("PLUGIN_MAX_PORT"),
            unix_socket_dir: non_empty("PLUGIN_UNIX_SOCKET_DIR").map(PathBuf::from),
            unix_socket_group: non_empty("PLUGIN_UNIX_SOCKET_GROUP"),
            client_cert: non_empty("PLUGIN_CLIENT_CERT"),
            multiplex_grpc: non_empty("PLUGIN_MULTIPLEX_GRPC"),
            tmpdir: non_empty("TMPDIR").map(PathBuf::from),
            attach: matches!(
                map.get(super::ATTACH_ENV)
                    .map(|v| v.to_ascii_lowercase())
                    .as_deref(),
                Some("1" | "true")
            ),
        }
    }

    /// Checks the magic cookie, as every go-plugin plugin does first. In
    /// attach mode there is no host to set it, and none is needed.
    pub fn check_cookie(&self, handshake: &Handshake) -> Result<(), ServeError> {
        if self.attach {
            return Ok(());
        }
        match &self.magic_cookie {
            Some(v) if v == handshake.magic_cookie_value => Ok(()),
            _ => Err(ServeError::NotLaunchedByHost {
                cookie_key: handshake.magic_cookie_key,
            }),
        }
    }

    /// The directory the Unix socket goes in: `PLUGIN_UNIX_SOCKET_DIR`, else
    /// `TMPDIR`, else `/tmp`.
    pub fn socket_dir(&self) -> PathBuf {
        self.unix_socket_dir
            .clone()
            .or_else(|| self.tmpdir.clone())
            .unwrap_or_else(|| PathBuf::from("/tmp"))
    }

    /// The TCP port range from `PLUGIN_MIN_PORT`/`PLUGIN_MAX_PORT`; `0..=0`
    /// (any port) when unset, as in go-plugin.
    pub fn port_range(&self) -> Result<(u16, u16), ServeError> {
        let parse = |name: &'static str, v: &Option<String>| -> Result<u16, ServeError> {
            match v {
                None => Ok(0),
                Some(s) => s.parse::<u16>().map_err(|_| ServeError::InvalidEnv {
                    name,
                    value: s.clone(),
                    reason: "not a port number".into(),
                }),
            }
        };
        let min = parse("PLUGIN_MIN_PORT", &self.min_port)?;
        let max = parse("PLUGIN_MAX_PORT", &self.max_port)?;
        if min > max {
            return Err(ServeError::InvalidEnv {
                name: "PLUGIN_MIN_PORT",
                value: min.to_string(),
                reason: format!("greater than PLUGIN_MAX_PORT ({max})"),
            });
        }
        Ok((min, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> PluginEnv {
        PluginEnv::from_vars(
            &Handshake::NOMAD,
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn attach_mode_needs_no_cookie() {
        for on in ["1", "true", "TRUE"] {
            let e = env(&[("NOMAD_PLUGIN_ATTACH", on)]);
            assert!(e.attach, "{on}");
            assert!(e.check_cookie(&Handshake::NOMAD).is_ok());
        }
        for off in ["", "0", "yes please"] {
            let e = env(&[("NOMAD_PLUGIN_ATTACH", off)]);
            assert!(!e.attach, "{off:?}");
            assert!(e.check_cookie(&Handshake::NOMAD).is_err());
        }
    }

    #[test]
    fn cookie_must_match_exactly() {
        assert!(env(&[]).check_cookie(&Handshake::NOMAD).is_err());
        assert!(env(&[("NOMAD_PLUGIN_MAGIC_COOKIE", "nope")])
            .check_cookie(&Handshake::NOMAD)
            .is_err());
        let ok = env(&[(
            "NOMAD_PLUGIN_MAGIC_COOKIE",
            Handshake::NOMAD.magic_cookie_value,
        )]);
        assert!(ok.check_cookie(&Handshake::NOMAD).is_ok());
        assert!(ok.check_cookie(&Handshake::AUTOSCALER).is_err());
    }

    #[test]
    fn socket_dir_precedence() {
        assert_eq!(env(&[]).socket_dir(), PathBuf::from("/tmp"));
        assert_eq!(env(&[("TMPDIR", "/x")]).socket_dir(), PathBuf::from("/x"));
        assert_eq!(
            env(&[("TMPDIR", "/x"), ("PLUGIN_UNIX_SOCKET_DIR", "/y")]).socket_dir(),
            PathBuf::from("/y")
        );
    }

    #[test]
    fn port_range_checks() {
        assert_eq!(env(&[]).port_range().ok(), Some((0, 0)));
        assert_eq!(
            env(&[("PLUGIN_MIN_PORT", "10000"), ("PLUGIN_MAX_PORT", "25000")])
                .port_range()
                .ok(),
            Some((10000, 25000))
        );
        assert!(env(&[("PLUGIN_MIN_PORT", "9"), ("PLUGIN_MAX_PORT", "8")])
            .port_range()
            .is_err());
        assert!(env(&[("PLUGIN_MIN_PORT", "x")]).port_range().is_err());
    }
}

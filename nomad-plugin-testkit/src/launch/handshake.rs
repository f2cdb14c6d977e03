//! Parsing a plugin's handshake line with go-plugin's client rules.

use std::path::PathBuf;

/// What the host expects from the plugin's handshake line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProtocol {
    /// Application protocol versions the host speaks.
    pub versions: Vec<u32>,
    /// Whether the host asked for broker multiplexing.
    pub multiplex: bool,
}

/// Where and how to reach a plugin, read from its handshake line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginAddress {
    /// The negotiated application protocol version.
    pub protocol_version: u32,
    /// The address to connect to.
    pub endpoint: Endpoint,
    /// The plugin's DER certificate when it serves AutoMTLS.
    pub server_cert: Option<Vec<u8>>,
    /// The seventh field, when present.
    pub multiplex: Option<bool>,
}

/// A plugin's listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket path.
    Unix(PathBuf),
    /// A TCP `host:port`.
    Tcp(String),
}

/// Why a handshake line was refused. The messages are go-plugin's, so a
/// failure reads the way it would in a Nomad agent's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Fewer than four `|`-separated fields.
    #[error("Unrecognized remote plugin message: {line}\nThis usually means the plugin printed something on stdout before its handshake line, or is not a go-plugin plugin.")]
    Unrecognized {
        /// The line as read (trimmed).
        line: String,
    },
    /// The core protocol field is not an integer.
    #[error("error parsing core protocol version: {0:?}")]
    CoreNotANumber(String),
    /// The core protocol is not 1.
    #[error("incompatible core API version with plugin. Plugin version: {0}, Core version: 1")]
    CoreVersion(String),
    /// The application protocol field is not an integer.
    #[error("Error parsing protocol version {0:?}")]
    AppNotANumber(String),
    /// The plugin speaks an application protocol the host does not.
    #[error(
        "incompatible API version with plugin. Plugin version: {plugin}, Client versions: {host:?}"
    )]
    AppVersion {
        /// The plugin's version.
        plugin: u32,
        /// The host's versions.
        host: Vec<u32>,
    },
    /// The network field is neither `unix` nor `tcp`.
    #[error("unknown address type: {0}")]
    Network(String),
    /// The protocol field is missing (meaning net/rpc) or not `grpc`.
    #[error("unsupported plugin protocol {0:?}. Supported: [grpc]")]
    Protocol(String),
    /// The certificate field is not valid base64.
    #[error("error parsing server cert: {0}")]
    Cert(String),
    /// The multiplexing field is not a boolean.
    #[error("error parsing {0:?} as a boolean for gRPC broker multiplexing support")]
    Multiplex(String),
    /// The host asked for multiplexing and the plugin does not support it.
    #[error("client requested gRPC broker multiplexing but plugin does not support the feature")]
    MultiplexUnsupported,
}

/// Parses a handshake line as go-plugin's client does.
///
/// ```
/// use nomad_plugin_testkit::launch::{parse_handshake, Endpoint, HostProtocol};
///
/// let host = HostProtocol { versions: vec![2], multiplex: false };
/// let addr = parse_handshake("1|2|unix|/tmp/plugin42|grpc|\n", &host).unwrap();
/// assert_eq!(addr.endpoint, Endpoint::Unix("/tmp/plugin42".into()));
/// assert!(parse_handshake("hello world", &host).is_err());
/// ```
pub fn parse_handshake(line: &str, host: &HostProtocol) -> Result<PluginAddress, HandshakeError> {
    let line = line.trim();
    let parts: Vec<&str> = line.split('|').collect();
    if parts.len() < 4 {
        return Err(HandshakeError::Unrecognized { line: line.into() });
    }
    let core: i64 = parts[0]
        .parse()
        .map_err(|_| HandshakeError::CoreNotANumber(parts[0].into()))?;
    if core != 1 {
        return Err(HandshakeError::CoreVersion(parts[0].into()));
    }
    let app: u32 = parts[1]
        .parse()
        .map_err(|_| HandshakeError::AppNotANumber(parts[1].into()))?;
    if !host.versions.contains(&app) {
        return Err(HandshakeError::AppVersion {
            plugin: app,
            host: host.versions.clone(),
        });
    }
    let endpoint = match parts[2] {
        "unix" => Endpoint::Unix(PathBuf::from(parts[3])),
        "tcp" => Endpoint::Tcp(parts[3].to_string()),
        other => return Err(HandshakeError::Network(other.into())),
    };
    let protocol = parts.get(4).copied().unwrap_or("netrpc");
    if protocol != "grpc" {
        return Err(HandshakeError::Protocol(protocol.into()));
    }
    // go-plugin only treats the field as a certificate when it is long
    // enough to be one.
    let server_cert = match parts.get(5) {
        Some(c) if c.len() > 50 => Some(decode_raw_std_base64(c).map_err(HandshakeError::Cert)?),
        _ => None,
    };
    let multiplex = if host.multiplex {
        match parts.get(6) {
            Some(v) => {
                let b = parse_go_bool(v).ok_or_else(|| HandshakeError::Multiplex((*v).into()))?;
                if !b {
                    return Err(HandshakeError::MultiplexUnsupported);
                }
                Some(b)
            }
            None => return Err(HandshakeError::MultiplexUnsupported),
        }
    } else {
        None
    };
    Ok(PluginAddress {
        protocol_version: app,
        endpoint,
        server_cert,
        multiplex,
    })
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Decodes base64 with the standard alphabet and no padding (Go's
/// `base64.RawStdEncoding`).
fn decode_raw_std_base64(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nomad() -> HostProtocol {
        HostProtocol {
            versions: vec![2],
            multiplex: false,
        }
    }

    #[test]
    fn accepts_go_plugin_lines() {
        let a = parse_handshake("1|2|unix|/tmp/plugin1|grpc|", &nomad()).unwrap();
        assert_eq!(a.protocol_version, 2);
        assert_eq!(a.server_cert, None);
        let t = parse_handshake("1|2|tcp|127.0.0.1:10000|grpc", &nomad()).unwrap();
        assert_eq!(t.endpoint, Endpoint::Tcp("127.0.0.1:10000".into()));
    }

    #[test]
    fn refuses_like_go_plugin() {
        let h = nomad();
        assert!(matches!(
            parse_handshake("", &h),
            Err(HandshakeError::Unrecognized { .. })
        ));
        assert_eq!(
            parse_handshake("2|2|unix|/x|grpc|", &h),
            Err(HandshakeError::CoreVersion("2".into()))
        );
        assert_eq!(
            parse_handshake("1|1|unix|/x|grpc|", &h),
            Err(HandshakeError::AppVersion {
                plugin: 1,
                host: vec![2]
            })
        );
        assert_eq!(
            parse_handshake("1|2|udp|/x|grpc|", &h),
            Err(HandshakeError::Network("udp".into()))
        );
        assert_eq!(
            parse_handshake("1|2|unix|/x", &h),
            Err(HandshakeError::Protocol("netrpc".into()))
        );
        assert_eq!(
            parse_handshake("1|2|unix|/x|netrpc|", &h),
            Err(HandshakeError::Protocol("netrpc".into()))
        );
    }

    #[test]
    fn short_cert_field_is_ignored_long_one_decoded() {
        let h = nomad();
        assert_eq!(
            parse_handshake("1|2|unix|/x|grpc|abc", &h)
                .unwrap()
                .server_cert,
            None
        );
        let cert =
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk";
        let a = parse_handshake(&format!("1|2|unix|/x|grpc|{cert}"), &h).unwrap();
        assert_eq!(
            a.server_cert.as_deref(),
            Some(&b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[..])
        );
        assert!(matches!(
            parse_handshake(&format!("1|2|unix|/x|grpc|{cert}!!"), &h),
            Err(HandshakeError::Cert(_))
        ));
    }

    #[test]
    fn multiplex_field() {
        let h = HostProtocol {
            versions: vec![2],
            multiplex: true,
        };
        assert_eq!(
            parse_handshake("1|2|unix|/x|grpc||false", &h),
            Err(HandshakeError::MultiplexUnsupported)
        );
        assert_eq!(
            parse_handshake("1|2|unix|/x|grpc||true", &h)
                .unwrap()
                .multiplex,
            Some(true)
        );
    }
}

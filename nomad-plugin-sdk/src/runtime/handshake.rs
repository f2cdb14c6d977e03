//! The go-plugin handshake: magic cookie, protocol versions and the line a
//! plugin prints on stdout to tell its host where to connect.

use std::fmt;

/// The core go-plugin protocol version. Hosts reject any other value.
pub const CORE_PROTOCOL_VERSION: u32 = 1;

/// What a plugin and its host must agree on before they can talk: the magic
/// cookie the host puts in the plugin's environment and the application
/// protocol version.
///
/// Use [`Handshake::NOMAD`] for task driver and device plugins and
/// [`Handshake::AUTOSCALER`] for Nomad Autoscaler plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Name of the environment variable that carries the cookie.
    pub magic_cookie_key: &'static str,
    /// The value the cookie must have.
    pub magic_cookie_value: &'static str,
    /// The application protocol version this plugin speaks.
    pub protocol_version: u32,
}

impl Handshake {
    /// Nomad's handshake for task driver and device plugins (protocol 2).
    pub const NOMAD: Handshake = Handshake {
        magic_cookie_key: "NOMAD_PLUGIN_MAGIC_COOKIE",
        magic_cookie_value: "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255",
        protocol_version: 2,
    };

    /// The Nomad Autoscaler's handshake for APM, strategy and target plugins
    /// (protocol 1).
    pub const AUTOSCALER: Handshake = Handshake {
        magic_cookie_key: "NOMAD_AUTOSCALER_PLUGIN_MAGIC_COOKIE",
        magic_cookie_value: "e082fa04d587a6525d683666fa253d6afda00f20c122c54a80a3ed57fec99ff3",
        protocol_version: 1,
    };

    /// Picks the protocol version to announce, given the host's
    /// `PLUGIN_PROTOCOL_VERSIONS` list.
    ///
    /// A plugin built on this SDK speaks exactly one version. Like go-plugin,
    /// it announces that version even when the host did not list it, so the
    /// host reports the mismatch with its own message
    /// (`incompatible API version with plugin`).
    pub fn negotiate(&self, host_versions: &[u32]) -> Negotiated {
        let matched = host_versions.is_empty() || host_versions.contains(&self.protocol_version);
        Negotiated {
            version: self.protocol_version,
            host_listed_it: matched,
        }
    }
}

/// The outcome of protocol negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The version the plugin announces.
    pub version: u32,
    /// Whether the host listed that version (or listed none at all).
    pub host_listed_it: bool,
}

/// The message a Go plugin prints on stderr when it is run without the magic
/// cookie, for example by a person starting the binary by hand.
pub const NOT_A_HOST_MESSAGE: &str =
    "This binary is a plugin. These are not meant to be executed directly.\n\
Please execute the program that consumes these plugins, which will\n\
load any plugins automatically\n";

/// Parses a `PLUGIN_PROTOCOL_VERSIONS` value (`"2"`, `"1,2"`).
///
/// Entries that are not integers are skipped and returned separately, as a
/// Go plugin skips them (it also prints a note on stderr).
pub fn parse_protocol_versions(raw: &str) -> (Vec<u32>, Vec<String>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    if raw.is_empty() {
        return (ok, bad);
    }
    for part in raw.split(',') {
        match part.parse::<u32>() {
            Ok(v) => ok.push(v),
            Err(_) => bad.push(part.to_string()),
        }
    }
    (ok, bad)
}

/// The network a plugin listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A Unix domain socket (every Unix-like system).
    Unix,
    /// TCP on the loopback interface.
    Tcp,
}

impl Network {
    /// The word go-plugin uses on the handshake line.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Unix => "unix",
            Network::Tcp => "tcp",
        }
    }
}

/// The single line a plugin prints on stdout once it listens:
/// `CORE|APP|NETWORK|ADDR|grpc|CERT` (and `|MUX` when the host asked about
/// broker multiplexing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeLine {
    /// Negotiated application protocol version.
    pub protocol_version: u32,
    /// Listener network.
    pub network: Network,
    /// Socket path or `host:port`.
    pub address: String,
    /// The server certificate for AutoMTLS: base64 (standard alphabet, no
    /// padding) of its DER encoding; empty when AutoMTLS is off.
    pub server_cert: String,
    /// Present when the host set `PLUGIN_MULTIPLEX_GRPC`: whether this plugin
    /// multiplexes broker connections over its listener.
    pub multiplex: Option<bool>,
}

impl fmt::Display for HandshakeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|{}|{}|grpc|{}",
            CORE_PROTOCOL_VERSION,
            self.protocol_version,
            self.network.as_str(),
            self.address,
            self.server_cert
        )?;
        if let Some(mux) = self.multiplex {
            write!(f, "|{mux}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_matches_go_format() {
        let line = HandshakeLine {
            protocol_version: 2,
            network: Network::Unix,
            address: "/tmp/plugin123".into(),
            server_cert: String::new(),
            multiplex: None,
        };
        assert_eq!(line.to_string(), "1|2|unix|/tmp/plugin123|grpc|");
        let mux = HandshakeLine {
            multiplex: Some(false),
            ..line
        };
        assert_eq!(mux.to_string(), "1|2|unix|/tmp/plugin123|grpc||false");
    }

    #[test]
    fn versions_skip_garbage() {
        assert_eq!(
            parse_protocol_versions("1,x,2"),
            (vec![1, 2], vec!["x".to_string()])
        );
        assert_eq!(parse_protocol_versions(""), (vec![], vec![]));
    }

    #[test]
    fn negotiation_reports_mismatch() {
        let n = Handshake::NOMAD.negotiate(&[1, 3]);
        assert_eq!(n.version, 2);
        assert!(!n.host_listed_it);
        assert!(Handshake::NOMAD.negotiate(&[2]).host_listed_it);
        assert!(Handshake::AUTOSCALER.negotiate(&[1]).host_listed_it);
    }
}

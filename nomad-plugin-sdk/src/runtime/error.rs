//! Errors of the serve runtime.

use std::path::PathBuf;

/// Why a plugin could not start serving, or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The magic cookie is missing or wrong: the binary was not started by a
    /// go-plugin host (Nomad, the autoscaler, the testkit).
    #[error("the {cookie_key} environment variable is missing or wrong: this binary is a plugin and must be started by its host")]
    NotLaunchedByHost {
        /// The cookie's environment variable.
        cookie_key: &'static str,
    },
    /// An environment variable the host set could not be used.
    #[error("invalid {name}={value:?}: {reason}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The listener could not be created.
    #[error("could not listen on {address}: {source}")]
    Listen {
        /// The socket path or TCP address tried.
        address: String,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// No TCP port in the host's range could be bound.
    #[error("no free TCP port between {min} and {max}")]
    NoFreePort {
        /// Lowest port tried.
        min: u16,
        /// Highest port tried.
        max: u16,
    },
    /// The socket's group or mode could not be set.
    #[error("could not give socket {path} to group {group:?}: {reason}")]
    SocketGroup {
        /// The socket path.
        path: PathBuf,
        /// The group from `PLUGIN_UNIX_SOCKET_GROUP`.
        group: String,
        /// What went wrong.
        reason: String,
    },
    /// The handshake line could not be written (stdout closed?).
    #[error("could not write the handshake line to stdout: {0}")]
    Handshake(#[source] std::io::Error),
    /// Redirecting stdout/stderr into the stdio stream failed.
    #[error("could not redirect stdout/stderr: {0}")]
    Stdio(#[source] std::io::Error),
    /// AutoMTLS was requested but could not be set up.
    #[error("AutoMTLS: {0}")]
    Tls(String),
    /// The gRPC server failed.
    #[error("gRPC server error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Another I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What the runtime was doing.
        context: &'static str,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
}

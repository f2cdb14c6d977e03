//! The error a host volume plugin returns, as the operator will read it.

use crate::common::{InvocationError, VersionError};

/// Why a host volume operation failed.
///
/// The SDK prints `{"error": "<this message>"}` and exits with status 1, so
/// Nomad shows the operator `error creating volume "<id>" with plugin
/// "<plugin>": exit status 1: <this message>` (or `error deleting volume ...`).
/// Write messages for that operator: say what failed and what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostVolumeError {
    /// Nomad passed a variable that is missing or malformed.
    #[error(transparent)]
    Invocation(#[from] InvocationError),
    /// A `parameters` entry of the volume specification is unknown or invalid.
    #[error("invalid parameter {name:?}: {problem}")]
    Parameter {
        /// The parameter's key.
        name: String,
        /// What is wrong and what is accepted.
        problem: String,
    },
    /// The requested capacity cannot be provided.
    #[error("capacity: {0}")]
    Capacity(String),
    /// A file system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the plugin was doing, e.g. `creating /srv/volumes/<id>`.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The plugin's version string is not one Nomad can parse.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// Anything else, with a message for the operator.
    #[error("{0}")]
    Other(String),
}

impl HostVolumeError {
    /// An invalid or unknown `parameters` entry.
    pub fn parameter(name: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Parameter {
            name: name.into(),
            problem: problem.into(),
        }
    }

    /// An I/O error with what the plugin was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// Any other failure.
    pub fn other(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }
}

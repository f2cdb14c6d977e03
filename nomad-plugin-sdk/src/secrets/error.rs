//! The error a secret provider returns, as the job's author will read it.

use crate::common::{InvocationError, VersionError};

/// Why a secret could not be fetched.
///
/// The SDK prints `{"result": {}, "error": "<this message>"}` and exits 0 —
/// the only way the message reaches anyone: Nomad fails the task with
/// `provider "<plugin>" for secret "<name>" response contained error:
/// "<this message>"` (a non-zero exit would only show `exit status 1`). The
/// task then fails without restarting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// Nomad passed an argument or variable that is missing or malformed.
    #[error(transparent)]
    Invocation(#[from] InvocationError),
    /// No secret exists at this path.
    #[error("secret {path:?} not found")]
    NotFound {
        /// The requested path.
        path: String,
    },
    /// The secret exists but this job may not read it, or the store refused.
    #[error("access to secret {path:?} denied: {reason}")]
    Denied {
        /// The requested path.
        path: String,
        /// Why, for the job's author or the operator.
        reason: String,
    },
    /// The plugin's version string is not one Nomad can parse.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// An I/O error with what the plugin was doing.
    #[error("{context}: {source}")]
    Io {
        /// What the plugin was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Anything else, with a message for the job's author.
    #[error("{0}")]
    Other(String),
}

impl SecretsError {
    /// No secret at `path`.
    pub fn not_found(path: impl Into<String>) -> Self {
        Self::NotFound { path: path.into() }
    }

    /// Access to `path` refused for `reason`.
    pub fn denied(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Denied {
            path: path.into(),
            reason: reason.into(),
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

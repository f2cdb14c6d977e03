//! Errors of the config layer.

use super::Path;

/// Why a config could not be encoded, decoded or described.
///
/// Every variant that concerns a value names where in the config it is, so
/// the message a Nomad operator reads says what to change:
/// `config.mounts[1].source: expected a string, found number 5`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The msgpack bytes are malformed or do not match the expected type.
    #[error("{path}: invalid msgpack config: {message}")]
    Msgpack {
        /// Where the problem is.
        path: Path,
        /// What is wrong.
        message: String,
    },
    /// A value could not be encoded as go-cty msgpack.
    #[error("{path}: cannot encode value: {message}")]
    Encode {
        /// Where the problem is.
        path: Path,
        /// What is wrong.
        message: String,
    },
    /// The config value does not fit the plugin's Rust type.
    #[error("{path}: expected {expected}, found {found}")]
    Type {
        /// Where the problem is.
        path: Path,
        /// What the Rust type needs (`a string`, `an integer between 0 and 65535`).
        expected: String,
        /// What the config holds (`number 5`, `null`).
        found: String,
    },
    /// Any other problem found while deserializing (missing field, unknown
    /// variant, a custom `Deserialize` impl's message).
    #[error("{path}: {message}")]
    Custom {
        /// Where the problem is (the root when serde gave no position).
        path: Path,
        /// The message.
        message: String,
        /// Whether `path` was set where the error happened.
        #[doc(hidden)]
        located: bool,
    },
    /// A schema is invalid (bad type expression, missing name, ...).
    #[error("invalid config schema: {0}")]
    Schema(String),
}

impl Error {
    pub(crate) fn msgpack(path: &Path, message: impl Into<String>) -> Error {
        Error::Msgpack {
            path: path.clone(),
            message: message.into(),
        }
    }

    pub(crate) fn encode(path: &Path, message: impl Into<String>) -> Error {
        Error::Encode {
            path: path.clone(),
            message: message.into(),
        }
    }

    /// The path the error is about, if it has one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Msgpack { path, .. }
            | Error::Encode { path, .. }
            | Error::Type { path, .. }
            | Error::Custom { path, .. } => Some(path),
            Error::Schema(_) => None,
        }
    }

    /// Gives an error raised by serde without a position the path where it
    /// surfaced.
    pub(crate) fn locate(self, at: &Path) -> Error {
        match self {
            Error::Custom {
                message,
                located: false,
                ..
            } => Error::Custom {
                path: at.clone(),
                message,
                located: true,
            },
            other => other,
        }
    }
}

impl serde::de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Error {
        Error::Custom {
            path: Path::root(),
            message: msg.to_string(),
            located: false,
        }
    }
}

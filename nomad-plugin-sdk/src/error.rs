//! The error a plugin returns to Nomad, and the gRPC status it becomes.

use tonic::{Code, Status};

/// An error from plugin code, in terms Nomad understands. Each variant maps
/// to one gRPC status code (see [`PluginError::code`]); the message is what
/// a Nomad operator reads in the agent log or the task's events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The configuration Nomad sent could not be decoded or is invalid
    /// (`InvalidArgument`). Nomad refuses the plugin or the task and shows
    /// this message.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A request argument is invalid (`InvalidArgument`).
    #[error("{0}")]
    InvalidArgument(String),
    /// The task, device or resource does not exist (`NotFound`).
    #[error("{0}")]
    NotFound(String),
    /// It already exists (`AlreadyExists`).
    #[error("{0}")]
    AlreadyExists(String),
    /// The operation does not apply in the current state
    /// (`FailedPrecondition`).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The plugin does not implement this operation (`Unimplemented`).
    #[error("{0}")]
    Unimplemented(String),
    /// A temporary failure Nomad may retry (`Unavailable`); for task drivers
    /// the SDK also marks it as a recoverable error so the task's restart
    /// policy applies.
    #[error("{0}")]
    Retryable(String),
    /// Anything else (`Internal`).
    #[error("{0}")]
    Internal(String),
}

impl PluginError {
    /// The gRPC status code Nomad receives.
    pub fn code(&self) -> Code {
        match self {
            PluginError::InvalidConfig(_) | PluginError::InvalidArgument(_) => {
                Code::InvalidArgument
            }
            PluginError::NotFound(_) => Code::NotFound,
            PluginError::AlreadyExists(_) => Code::AlreadyExists,
            PluginError::FailedPrecondition(_) => Code::FailedPrecondition,
            PluginError::Unimplemented(_) => Code::Unimplemented,
            PluginError::Retryable(_) => Code::Unavailable,
            PluginError::Internal(_) => Code::Internal,
        }
    }

    /// Shorthand for [`PluginError::Internal`] from anything printable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        PluginError::Internal(e.to_string())
    }
}

impl From<crate::config::Error> for PluginError {
    fn from(e: crate::config::Error) -> Self {
        PluginError::InvalidConfig(e.to_string())
    }
}

impl From<PluginError> for Status {
    fn from(e: PluginError) -> Self {
        Status::new(e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_codes() {
        let s: Status = PluginError::NotFound("task \"x\" not found".into()).into();
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "task \"x\" not found");
        let s: Status = PluginError::InvalidConfig("config.port: bad".into()).into();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "invalid configuration: config.port: bad");
        assert_eq!(PluginError::Retryable("x".into()).code(), Code::Unavailable);
    }
}

//! What an autoscaler plugin answers when a call fails, and the one place
//! where that becomes a gRPC status.
//!
//! The agent shows the status message in its log (for example `failed to
//! query source: rpc error: code = InvalidArgument desc = <message>`), so
//! messages are written for the operator who reads that line.

/// An error from an autoscaler plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AutoscalerError {
    /// A config value is missing or malformed. From `SetConfig`, the agent
    /// refuses to start (it kills the plugin and reports the message); from
    /// a policy's strategy or target block, that policy's evaluation fails.
    #[error("invalid config {key:?}: {message}")]
    Config {
        /// The config key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// An APM query cannot be understood. The agent skips the check (or
    /// fails the policy evaluation if the check says `on_error = "fail"`).
    #[error("invalid query {query:?}: {message}")]
    Query {
        /// The query text.
        query: String,
        /// What is wrong with it.
        message: String,
    },
    /// Some other argument from the agent cannot be used (an inverted time
    /// range, an unknown scaling direction, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// A target's `Scale` changed nothing, on purpose (the target is
    /// already at that count, or the action was a dry run). Sent as gRPC
    /// `ABORTED`, which the agent turns into its no-op error: it logs at
    /// debug and does not start the policy's cooldown.
    #[error("{0}")]
    NoOp(String),
    /// The thing behind the plugin (a metrics service, a cloud API, a file)
    /// cannot be reached now; the agent tries again at the next evaluation.
    #[error("{0}")]
    Unavailable(String),
    /// The metric, target or resource named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// This plugin does not offer the call (for example `QueryMultiple`,
    /// which only Dynamic Application Sizing uses).
    #[error("{0}")]
    Unsupported(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl AutoscalerError {
    /// A bad config value.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        AutoscalerError::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    /// A query the plugin cannot run.
    pub fn query(query: impl Into<String>, message: impl Into<String>) -> Self {
        AutoscalerError::Query {
            query: query.into(),
            message: message.into(),
        }
    }

    /// A target scale that changed nothing (gRPC `ABORTED`).
    pub fn no_op(reason: impl Into<String>) -> Self {
        AutoscalerError::NoOp(reason.into())
    }

    /// A backend that cannot be reached now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        AutoscalerError::Unavailable(message.into())
    }

    /// Any other failure.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        AutoscalerError::Internal(message.to_string())
    }

    /// The gRPC code this error is sent with.
    pub fn code(&self) -> tonic::Code {
        match self {
            AutoscalerError::Config { .. }
            | AutoscalerError::Query { .. }
            | AutoscalerError::InvalidArgument(_) => tonic::Code::InvalidArgument,
            AutoscalerError::NoOp(_) => tonic::Code::Aborted,
            AutoscalerError::Unavailable(_) => tonic::Code::Unavailable,
            AutoscalerError::NotFound(_) => tonic::Code::NotFound,
            AutoscalerError::Unsupported(_) => tonic::Code::Unimplemented,
            AutoscalerError::Internal(_) => tonic::Code::Internal,
        }
    }
}

impl From<AutoscalerError> for tonic::Status {
    fn from(e: AutoscalerError) -> Self {
        tonic::Status::new(e.code(), e.to_string())
    }
}

impl From<std::io::Error> for AutoscalerError {
    fn from(e: std::io::Error) -> Self {
        AutoscalerError::Unavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_has_its_code_and_message() {
        let s: tonic::Status = AutoscalerError::no_op("already at 3").into();
        assert_eq!(s.code(), tonic::Code::Aborted);
        // The agent wraps the bare message as its no-op error text.
        assert_eq!(s.message(), "already at 3");
        let s: tonic::Status = AutoscalerError::query("bogus", "unknown metric").into();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert_eq!(s.message(), "invalid query \"bogus\": unknown metric");
        let s: tonic::Status = AutoscalerError::config("target", "must be a number").into();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert!(s.message().contains("\"target\""));
        for (e, code) in [
            (AutoscalerError::unavailable("x"), tonic::Code::Unavailable),
            (AutoscalerError::NotFound("x".into()), tonic::Code::NotFound),
            (
                AutoscalerError::Unsupported("x".into()),
                tonic::Code::Unimplemented,
            ),
            (AutoscalerError::internal("x"), tonic::Code::Internal),
            (
                AutoscalerError::InvalidArgument("x".into()),
                tonic::Code::InvalidArgument,
            ),
        ] {
            assert_eq!(tonic::Status::from(e).code(), code);
        }
    }
}

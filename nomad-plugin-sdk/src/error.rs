//! The error a plugin returns to Nomad, and the gRPC status it becomes.
//!
//! This is the one place where plugin errors of the go-plugin kinds (task
//! drivers, device plugins and the base service they share) become gRPC
//! statuses. What Nomad's client does with each status is decided by a few
//! lines of its plugin clients, so the codes are chosen for those lines:
//!
//! * `Unavailable` (and `Canceled` on streams and `WaitTask`) means "the
//!   plugin may be shutting down": the client waits up to 3 s for the plugin
//!   process to exit before it returns the error, on every call. No plugin
//!   error is ever sent with either code, so no error stalls the client.
//! * `StartTask` and `TaskStats` read the first status detail: a
//!   `RecoverableError{recoverable: true}` makes the job's restart policy
//!   retry the task. [`PluginError::Retryable`] always carries it (with
//!   `FailedPrecondition`, as Go drivers send it); where no one reads it,
//!   the detail costs nothing.
//! * `Unimplemented` from `Driver/Init` and `Driver/Shutdown` is ignored.
//! * Every other code is an opaque error: the client shows the message.
//!
//! The guide's concepts chapter has the table per RPC.

use prost::Message;
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
    /// (`FailedPrecondition`, without a recoverable detail).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The plugin does not implement this operation (`Unimplemented`).
    /// Nomad ignores it from `Driver/Init` and `Driver/Shutdown`; elsewhere
    /// the caller sees an error.
    #[error("{0}")]
    Unimplemented(String),
    /// A temporary failure worth trying again: `FailedPrecondition` with a
    /// `RecoverableError{recoverable: true}` detail, the shape Go drivers
    /// send. From `StartTask` the job's restart policy then retries the task
    /// (any other `StartTask` error fails it for good); from any other RPC
    /// the caller gets the error at once. It is deliberately not
    /// `Unavailable`, which Nomad's client reads as "the plugin is exiting"
    /// and answers by waiting 3 s.
    #[error("{0}")]
    Retryable(String),
    /// Anything else (`Internal`).
    #[error("{0}")]
    Internal(String),
}

/// The type URL of Nomad's `RecoverableError` status detail.
pub(crate) const RECOVERABLE_ERROR_TYPE_URL: &str =
    "type.googleapis.com/hashicorp.nomad.plugins.shared.structs.RecoverableError";

impl PluginError {
    /// The gRPC status code Nomad receives.
    pub fn code(&self) -> Code {
        match self {
            PluginError::InvalidConfig(_) | PluginError::InvalidArgument(_) => {
                Code::InvalidArgument
            }
            PluginError::NotFound(_) => Code::NotFound,
            PluginError::AlreadyExists(_) => Code::AlreadyExists,
            PluginError::FailedPrecondition(_) | PluginError::Retryable(_) => {
                Code::FailedPrecondition
            }
            PluginError::Unimplemented(_) => Code::Unimplemented,
            PluginError::Internal(_) => Code::Internal,
        }
    }

    /// Whether the status carries `RecoverableError{recoverable: true}`.
    pub fn is_recoverable(&self) -> bool {
        matches!(self, PluginError::Retryable(_))
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

/// `google.rpc.Status`, the body of the `grpc-status-details-bin` trailer.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// A status whose only detail is `RecoverableError{recoverable}`: grpc-go's
/// `status.Convert(err).Details()[0]`, which is all Nomad's client reads.
fn with_recoverable_detail(code: Code, message: String, recoverable: bool) -> Status {
    use nomad_plugin_proto::nomad::structs::RecoverableError;
    let detail = prost_types::Any {
        type_url: RECOVERABLE_ERROR_TYPE_URL.into(),
        value: RecoverableError { recoverable }.encode_to_vec(),
    };
    let body = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![detail],
    };
    Status::with_details(code, message, body.encode_to_vec().into())
}

impl From<PluginError> for Status {
    fn from(e: PluginError) -> Self {
        let code = e.code();
        let recoverable = e.is_recoverable();
        let message = e.to_string();
        if recoverable {
            with_recoverable_detail(code, message, true)
        } else {
            Status::new(code, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nomad_plugin_proto::nomad::structs::RecoverableError;

    fn recoverable_detail(s: &Status) -> Option<bool> {
        if s.details().is_empty() {
            return None;
        }
        let body = RpcStatus::decode(s.details()).ok()?;
        assert_eq!(body.code, s.code() as i32, "the body repeats the code");
        assert_eq!(body.message, s.message(), "the body repeats the message");
        let first = body.details.first()?;
        assert_eq!(first.type_url, RECOVERABLE_ERROR_TYPE_URL);
        Some(
            RecoverableError::decode(first.value.as_slice())
                .ok()?
                .recoverable,
        )
    }

    #[test]
    fn maps_to_codes() {
        let s: Status = PluginError::NotFound("task \"x\" not found".into()).into();
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "task \"x\" not found");
        assert_eq!(recoverable_detail(&s), None);
        let s: Status = PluginError::InvalidConfig("config.port: bad".into()).into();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "invalid configuration: config.port: bad");
    }

    #[test]
    fn no_error_is_sent_with_a_code_nomad_reads_as_plugin_exit() {
        for e in [
            PluginError::InvalidConfig("a".into()),
            PluginError::InvalidArgument("a".into()),
            PluginError::NotFound("a".into()),
            PluginError::AlreadyExists("a".into()),
            PluginError::FailedPrecondition("a".into()),
            PluginError::Unimplemented("a".into()),
            PluginError::Retryable("a".into()),
            PluginError::Internal("a".into()),
        ] {
            let s = Status::from(e.clone());
            assert!(
                !matches!(s.code(), Code::Unavailable | Code::Cancelled),
                "{e:?} became {:?}, which Nomad's client answers with a 3 s wait",
                s.code()
            );
        }
    }

    #[test]
    fn retryable_carries_the_recoverable_detail() {
        let s: Status = PluginError::Retryable("image pull failed".into()).into();
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(s.message(), "image pull failed");
        assert_eq!(recoverable_detail(&s), Some(true));
        let s: Status = PluginError::FailedPrecondition("task exited".into()).into();
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(recoverable_detail(&s), None);
    }
}

//! The error a CSI plugin returns, and the single place where it becomes a
//! gRPC status with the code the CSI spec prescribes.

use tonic::{Code, Status};

/// An error from a CSI plugin method. Each variant is one of the gRPC codes
/// the CSI spec gives a meaning to; the message is what a Nomad operator
/// reads (Nomad wraps it into its own error, e.g. `volume "x" could not be
/// found: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsiError {
    /// A required field is missing or a value is malformed
    /// (`INVALID_ARGUMENT`). Nomad does not retry.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The volume, snapshot or node does not exist (`NOT_FOUND`).
    #[error("not found: {0}")]
    NotFound(String),
    /// A volume or snapshot with this name exists but is incompatible with
    /// the request, or a volume is already published incompatibly
    /// (`ALREADY_EXISTS`).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The system is not in a state where the call can succeed, e.g. the
    /// volume is in use or published on another node (`FAILED_PRECONDITION`).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// Out of capacity or over a limit (`RESOURCE_EXHAUSTED`); Nomad retries
    /// node stage/publish on this code.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The requested capacity cannot be provided (`OUT_OF_RANGE`).
    #[error("out of range: {0}")]
    OutOfRange(String),
    /// Another operation is in flight for the same volume, or a pagination
    /// token is no longer valid (`ABORTED`).
    #[error("aborted: {0}")]
    Aborted(String),
    /// The plugin cannot serve now, try again (`UNAVAILABLE`); Nomad retries
    /// node stage/publish on this code.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The RPC is not implemented by this plugin (`UNIMPLEMENTED`).
    #[error("unimplemented: {0}")]
    Unimplemented(String),
    /// Anything else (`INTERNAL`). Nomad tells the operator to check the
    /// plugin allocation's logs.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CsiError {
    /// The gRPC code the CSI spec gives this error.
    pub fn code(&self) -> Code {
        match self {
            CsiError::InvalidArgument(_) => Code::InvalidArgument,
            CsiError::NotFound(_) => Code::NotFound,
            CsiError::AlreadyExists(_) => Code::AlreadyExists,
            CsiError::FailedPrecondition(_) => Code::FailedPrecondition,
            CsiError::ResourceExhausted(_) => Code::ResourceExhausted,
            CsiError::OutOfRange(_) => Code::OutOfRange,
            CsiError::Aborted(_) => Code::Aborted,
            CsiError::Unavailable(_) => Code::Unavailable,
            CsiError::Unimplemented(_) => Code::Unimplemented,
            CsiError::Internal(_) => Code::Internal,
        }
    }

    /// The message without the code prefix.
    pub fn message(&self) -> &str {
        match self {
            CsiError::InvalidArgument(m)
            | CsiError::NotFound(m)
            | CsiError::AlreadyExists(m)
            | CsiError::FailedPrecondition(m)
            | CsiError::ResourceExhausted(m)
            | CsiError::OutOfRange(m)
            | CsiError::Aborted(m)
            | CsiError::Unavailable(m)
            | CsiError::Unimplemented(m)
            | CsiError::Internal(m) => m,
        }
    }

    /// `INVALID_ARGUMENT` for a required field left empty.
    pub fn missing(field: &str) -> Self {
        CsiError::InvalidArgument(format!("{field} is required"))
    }

    /// `UNIMPLEMENTED` for an RPC this plugin did not register.
    pub(crate) fn unimplemented(rpc: &str) -> Self {
        CsiError::Unimplemented(format!("{rpc} is not implemented by this plugin"))
    }
}

impl From<CsiError> for Status {
    fn from(e: CsiError) -> Status {
        Status::new(e.code(), e.message().to_string())
    }
}

impl From<std::io::Error> for CsiError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::NotFound => CsiError::NotFound(e.to_string()),
            ErrorKind::StorageFull => CsiError::ResourceExhausted(e.to_string()),
            _ => CsiError::Internal(e.to_string()),
        }
    }
}

/// The result type of every CSI plugin method.
pub type CsiResult<T> = Result<T, CsiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_one_to_one() {
        let cases = [
            (CsiError::InvalidArgument("a".into()), Code::InvalidArgument),
            (CsiError::NotFound("a".into()), Code::NotFound),
            (CsiError::AlreadyExists("a".into()), Code::AlreadyExists),
            (
                CsiError::FailedPrecondition("a".into()),
                Code::FailedPrecondition,
            ),
            (
                CsiError::ResourceExhausted("a".into()),
                Code::ResourceExhausted,
            ),
            (CsiError::OutOfRange("a".into()), Code::OutOfRange),
            (CsiError::Aborted("a".into()), Code::Aborted),
            (CsiError::Unavailable("a".into()), Code::Unavailable),
            (CsiError::Unimplemented("a".into()), Code::Unimplemented),
            (CsiError::Internal("a".into()), Code::Internal),
        ];
        for (err, code) in cases {
            let status = Status::from(err);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), "a");
        }
    }

    #[test]
    fn io_not_found_is_not_found() {
        let e: CsiError = std::io::Error::from(std::io::ErrorKind::NotFound).into();
        assert_eq!(e.code(), Code::NotFound);
    }
}

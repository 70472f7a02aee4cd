//! The one mapping from planner errors to gRPC statuses; the SQLSTATE travels along in
//! the `x-lakegate-sqlstate` metadata entry so that clients can branch on it as on
//! Postgres wire.

use lakegate_planner::{ErrorKind, QueryError};
use tonic::{Code, Status};

/// Metadata key carrying the SQLSTATE of a failed statement.
pub const SQLSTATE_KEY: &str = "x-lakegate-sqlstate";

/// The gRPC code of an error kind. Exhaustive: a new kind must be classified here.
pub(crate) fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::Syntax
        | ErrorKind::UndefinedColumn
        | ErrorKind::UndefinedFunction
        | ErrorKind::AmbiguousColumn
        | ErrorKind::Grouping
        | ErrorKind::DatatypeMismatch
        | ErrorKind::InvalidParameterValue
        | ErrorKind::DivisionByZero
        | ErrorKind::NumericOutOfRange
        | ErrorKind::InvalidTextRepresentation
        | ErrorKind::InvalidDatetimeFormat
        | ErrorKind::DataException
        | ErrorKind::DatetimeOverflow
        | ErrorKind::ProtocolViolation
        | ErrorKind::NotNullViolation
        | ErrorKind::ProgramLimitExceeded
        | ErrorKind::InvalidRegularExpression
        // A statement using a feature the gateway refuses (0A000) is a bad argument of
        // a call that exists: UNIMPLEMENTED tells clients the RPC itself is missing, and
        // ADBC then stops using prepared statements for the connection.
        | ErrorKind::FeatureNotSupported => Code::InvalidArgument,
        ErrorKind::UndefinedTable | ErrorKind::UndefinedObject | ErrorKind::InvalidCursorName => {
            Code::NotFound
        }
        ErrorKind::InvalidAuthorization | ErrorKind::InvalidPassword => Code::Unauthenticated,
        ErrorKind::InvalidPreparedStatement => Code::NotFound,
        ErrorKind::ReadOnly
        | ErrorKind::ConnectionDoesNotExist
        | ErrorKind::InFailedTransaction
        | ErrorKind::NoActiveTransaction
        | ErrorKind::InvalidSavepoint
        | ErrorKind::ObjectNotInPrerequisiteState => Code::FailedPrecondition,
        ErrorKind::DuplicateCursor | ErrorKind::DuplicateTable => Code::AlreadyExists,
        ErrorKind::SerializationFailure => Code::Aborted,
        ErrorKind::ResourceExhausted
        | ErrorKind::OutOfMemory
        | ErrorKind::TooManyConnections
        | ErrorKind::LimitExceeded => Code::ResourceExhausted,
        ErrorKind::IdleSessionTimeout
        | ErrorKind::IoError
        | ErrorKind::UnableToConnect
        | ErrorKind::ConnectionFailure => Code::Unavailable,
        ErrorKind::Canceled => Code::Cancelled,
        ErrorKind::Timeout => Code::DeadlineExceeded,
        ErrorKind::InsufficientPrivilege => Code::PermissionDenied,
        ErrorKind::PolicyMisconfigured | ErrorKind::Internal => Code::Internal,
    }
}

/// A planner error as a gRPC status, with its SQLSTATE in the metadata.
pub(crate) fn to_status(error: QueryError) -> Status {
    let mut status = Status::new(code(error.kind), error.message);
    if let Ok(value) = error.kind.sqlstate().parse() {
        status.metadata_mut().insert(SQLSTATE_KEY, value);
    }
    status
}

/// An Arrow error in what the client sent (parameters, action bodies).
pub(crate) fn arrow_status(context: &str, error: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{context}: {error}"))
}

/// An Arrow error in what the gateway itself builds (schemas, metadata results): the
/// details go to the log, the client gets INTERNAL with a reference.
pub(crate) fn server_arrow_status(context: &str, error: impl std::fmt::Display) -> Status {
    to_status(QueryError::from(
        datafusion::error::DataFusionError::Internal(format!("{context}: {error}")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_the_sqlstate() {
        let status = to_status(QueryError::new(ErrorKind::InsufficientPrivilege, "denied"));
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(status.message(), "denied");
        assert_eq!(
            status.metadata().get(SQLSTATE_KEY).map(|v| v.as_bytes()),
            Some(&b"42501"[..])
        );
    }
}

//! The one mapping from planner errors to SQLSTATE codes.

use lakegate_planner::{ErrorKind, QueryError};
use pgwire::error::{ErrorInfo, PgWireError};

/// The SQLSTATE of an error kind. Exhaustive: a new kind must be classified here.
pub(crate) fn sqlstate(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Syntax => "42601",
        ErrorKind::UndefinedTable => "42P01",
        ErrorKind::UndefinedColumn => "42703",
        ErrorKind::UndefinedFunction => "42883",
        ErrorKind::UndefinedObject => "42704",
        ErrorKind::AmbiguousColumn => "42702",
        ErrorKind::DatatypeMismatch => "42804",
        ErrorKind::InvalidParameterValue => "22023",
        ErrorKind::DivisionByZero => "22012",
        ErrorKind::DataException => "22000",
        ErrorKind::ProtocolViolation => "08P01",
        ErrorKind::FeatureNotSupported => "0A000",
        ErrorKind::ReadOnly => "25006",
        ErrorKind::ResourceExhausted => "53000",
        ErrorKind::Canceled => "57014",
        ErrorKind::InsufficientPrivilege => "42501",
        ErrorKind::PolicyMisconfigured => "F0000",
        ErrorKind::NoActiveTransaction => "25P01",
        ErrorKind::InvalidSavepoint => "3B001",
        ErrorKind::InvalidCursorName => "34000",
        ErrorKind::DuplicateCursor => "42P03",
        ErrorKind::ObjectNotInPrerequisiteState => "55000",
        ErrorKind::Internal => "XX000",
    }
}

/// An ErrorResponse for a planner error.
pub(crate) fn error_info(error: &QueryError) -> ErrorInfo {
    ErrorInfo::new(
        "ERROR".to_string(),
        sqlstate(error.kind).to_string(),
        error.message.clone(),
    )
}

/// A planner error as a pgwire error.
pub(crate) fn to_pgwire(error: QueryError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&error)))
}

/// An error of our own making with an explicit SQLSTATE.
pub(crate) fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}

//! The one mapping from planner errors to SQLSTATE codes.

use lakegate_planner::{ErrorKind, QueryError};
use pgwire::error::{ErrorInfo, PgWireError};

/// An ErrorResponse for a planner error.
pub(crate) fn error_info(error: &QueryError) -> ErrorInfo {
    ErrorInfo::new(
        "ERROR".to_string(),
        error.kind.sqlstate().to_string(),
        error.message.clone(),
    )
}

/// A planner error as a pgwire error.
pub(crate) fn to_pgwire(error: QueryError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&error)))
}

/// An error of the wire protocol's own making, with the SQLSTATE of its kind.
pub(crate) fn user_error(kind: ErrorKind, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        kind.sqlstate().to_string(),
        message.into(),
    )))
}

/// An error that ends the connection (severity FATAL), with the SQLSTATE of its kind.
pub(crate) fn fatal(kind: ErrorKind, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        kind.sqlstate().to_string(),
        message.into(),
    )))
}

/// The SQLSTATE of a NOTICE (successful completion).
pub(crate) const NOTICE_SQLSTATE: &str = "00000";

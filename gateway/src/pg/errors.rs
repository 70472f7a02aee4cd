//! The one mapping from planner errors to SQLSTATE codes.

use lakegate_planner::QueryError;
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

/// An error of our own making with an explicit SQLSTATE.
pub(crate) fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}

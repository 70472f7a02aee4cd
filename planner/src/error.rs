//! The planner's one error type, classified so frontends can map it to SQLSTATE and
//! gRPC codes without reading messages.

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use lakegate_catalog::WriteError;
use lakegate_security::rules::{PermissionDenied, PolicyError};

/// What went wrong, in terms a client can act on. Frontends match on this
/// exhaustively to pick their protocol's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The SQL does not parse.
    Syntax,
    /// A table, view or schema that does not exist.
    UndefinedTable,
    /// A column that does not exist.
    UndefinedColumn,
    /// A function that does not exist.
    UndefinedFunction,
    /// A setting or other named object that does not exist.
    UndefinedObject,
    /// A column reference that matches several columns.
    AmbiguousColumn,
    /// A column outside GROUP BY, or an aggregate where rows are filtered or grouped.
    Grouping,
    /// Values of incompatible types.
    DatatypeMismatch,
    /// A value that is not valid for its type or parameter.
    InvalidParameterValue,
    /// Division by zero.
    DivisionByZero,
    /// A number outside its type's range ("integer out of range").
    NumericOutOfRange,
    /// Text that is not a value of the type it is cast to (`'abc'::int`).
    InvalidTextRepresentation,
    /// Any other error in the data (casts, overflow…).
    DataException,
    /// Parameters that do not match the statement.
    ProtocolViolation,
    /// A statement the gateway does not support.
    FeatureNotSupported,
    /// The statement is not allowed in this read-only gateway.
    ReadOnly,
    /// Memory or another resource ran out.
    ResourceExhausted,
    /// A configured limit or budget refuses the query (53400), before it runs.
    LimitExceeded,
    /// The query was cancelled.
    Canceled,
    /// The statement ran past `statement_timeout` or the client's deadline (57014).
    Timeout,
    /// The policy denies the object.
    InsufficientPrivilege,
    /// A policy rule cannot be applied (bad expression, missing attribute).
    PolicyMisconfigured,
    /// A transaction-block command outside a transaction block (SAVEPOINT, DECLARE).
    NoActiveTransaction,
    /// A savepoint that does not exist.
    InvalidSavepoint,
    /// A cursor that does not exist.
    InvalidCursorName,
    /// A cursor name that is already in use.
    DuplicateCursor,
    /// An object that cannot do this in its state (a forward-only cursor asked to
    /// scroll back).
    ObjectNotInPrerequisiteState,
    /// A NULL written into a required column (23502).
    NotNullViolation,
    /// A concurrent writer won; the statement may be retried (40001).
    SerializationFailure,
    /// CREATE TABLE of a name that exists (42P07).
    DuplicateTable,
    /// A bug or an unexpected failure of storage; details are in the server log.
    Internal,
}

/// An error with its kind and a message safe to show the client.
impl ErrorKind {
    /// The SQLSTATE of this kind. Exhaustive: a new kind must be classified here.
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "42601",
            ErrorKind::UndefinedTable => "42P01",
            ErrorKind::UndefinedColumn => "42703",
            ErrorKind::UndefinedFunction => "42883",
            ErrorKind::UndefinedObject => "42704",
            ErrorKind::AmbiguousColumn => "42702",
            ErrorKind::Grouping => "42803",
            ErrorKind::NotNullViolation => "23502",
            ErrorKind::SerializationFailure => "40001",
            ErrorKind::DuplicateTable => "42P07",
            ErrorKind::DatatypeMismatch => "42804",
            ErrorKind::InvalidParameterValue => "22023",
            ErrorKind::DivisionByZero => "22012",
            ErrorKind::NumericOutOfRange => "22003",
            ErrorKind::InvalidTextRepresentation => "22P02",
            ErrorKind::DataException => "22000",
            ErrorKind::ProtocolViolation => "08P01",
            ErrorKind::FeatureNotSupported => "0A000",
            ErrorKind::ReadOnly => "25006",
            ErrorKind::ResourceExhausted => "53000",
            ErrorKind::LimitExceeded => "53400",
            ErrorKind::Canceled | ErrorKind::Timeout => "57014",
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
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// Classification for protocol codes.
    pub kind: ErrorKind,
    /// Message for the client; never a stack trace or a file path.
    pub message: String,
}

/// Result alias for this crate.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

impl QueryError {
    /// A new error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<ParserError> for QueryError {
    fn from(e: ParserError) -> Self {
        let message = match e {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
            ParserError::RecursionLimitExceeded => "statement is nested too deeply".to_string(),
        };
        Self::new(ErrorKind::Syntax, format!("syntax error: {message}"))
    }
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        classify(e)
    }
}

/// Maps a DataFusion error (the one place foreign errors are classified).
fn classify(e: DataFusionError) -> QueryError {
    use datafusion::arrow::error::ArrowError;
    use datafusion::common::SchemaError;
    match e {
        DataFusionError::Context(_, inner) => classify(*inner),
        DataFusionError::Diagnostic(_, inner) => classify(*inner),
        DataFusionError::Shared(inner) => match std::sync::Arc::try_unwrap(inner) {
            Ok(inner) => classify(inner),
            Err(shared) => internal(&shared.to_string()),
        },
        DataFusionError::Collection(mut errors) if !errors.is_empty() => classify(errors.remove(0)),
        DataFusionError::SQL(parser, _) => QueryError::from(*parser),
        DataFusionError::SchemaError(schema, _) => match *schema {
            SchemaError::FieldNotFound { .. } => {
                QueryError::new(ErrorKind::UndefinedColumn, schema.to_string())
            }
            SchemaError::AmbiguousReference { .. } => {
                QueryError::new(ErrorKind::AmbiguousColumn, schema.to_string())
            }
            other => QueryError::new(ErrorKind::InvalidParameterValue, other.to_string()),
        },
        DataFusionError::Plan(message) => classify_plan(message),
        DataFusionError::NotImplemented(message) => QueryError::new(
            ErrorKind::FeatureNotSupported,
            unsupported_message(&message),
        ),
        DataFusionError::ResourcesExhausted(message) => {
            QueryError::new(ErrorKind::ResourceExhausted, message)
        }
        DataFusionError::Execution(message) => {
            if message.contains("Divide by zero") || message.contains("Division by zero") {
                QueryError::new(ErrorKind::DivisionByZero, "division by zero")
            } else if let Some(range) = message.strip_prefix(OUT_OF_RANGE) {
                QueryError::new(ErrorKind::NumericOutOfRange, range.trim().to_string())
            } else {
                data_error(message)
            }
        }
        DataFusionError::ArrowError(arrow, _) => match *arrow {
            ArrowError::DivideByZero => {
                QueryError::new(ErrorKind::DivisionByZero, "division by zero")
            }
            ArrowError::CastError(m)
            | ArrowError::ParseError(m)
            | ArrowError::InvalidArgumentError(m) => data_error(m),
            ArrowError::ComputeError(m) => QueryError::new(ErrorKind::DataException, m),
            ArrowError::ArithmeticOverflow(m) => QueryError::new(ErrorKind::NumericOutOfRange, m),
            ArrowError::ExternalError(inner) => external(inner),
            other => internal(&other.to_string()),
        },
        DataFusionError::External(inner) => external(inner),
        DataFusionError::Configuration(message) => {
            QueryError::new(ErrorKind::InvalidParameterValue, message)
        }
        other => internal(&other.to_string()),
    }
}

fn external(inner: Box<dyn std::error::Error + Send + Sync>) -> QueryError {
    match inner.downcast::<DataFusionError>() {
        Ok(df) => classify(*df),
        Err(inner) => match inner.downcast::<QueryError>() {
            Ok(q) => *q,
            Err(inner) => match inner.downcast::<WriteError>() {
                Ok(write) => (*write).into(),
                Err(inner) => match inner.downcast::<lakegate_catalog::CatalogError>() {
                    Ok(catalog) => (*catalog).into(),
                    Err(inner) => permission_or_policy(inner),
                },
            },
        },
    }
}

fn permission_or_policy(inner: Box<dyn std::error::Error + Send + Sync>) -> QueryError {
    match inner.downcast::<PermissionDenied>() {
        Ok(denied) => QueryError::new(ErrorKind::InsufficientPrivilege, denied.message),
        Err(inner) => match inner.downcast::<PolicyError>() {
            Ok(policy) => QueryError::new(ErrorKind::PolicyMisconfigured, policy.message),
            Err(other) => internal(&other.to_string()),
        },
    }
}

impl From<lakegate_catalog::CatalogError> for QueryError {
    fn from(e: lakegate_catalog::CatalogError) -> Self {
        match e {
            lakegate_catalog::CatalogError::Write(write) => write.into(),
            other => internal(&other.to_string()),
        }
    }
}

impl From<WriteError> for QueryError {
    fn from(e: WriteError) -> Self {
        let kind = match &e {
            WriteError::NotNull { .. } => ErrorKind::NotNullViolation,
            WriteError::Conflict { .. } => ErrorKind::SerializationFailure,
            WriteError::AlreadyExists { .. } => ErrorKind::DuplicateTable,
            WriteError::Unsupported { .. } => ErrorKind::FeatureNotSupported,
        };
        QueryError::new(kind, e.to_string())
    }
}

/// An error in the data; a NULL for a required column is DataFusion's check of an
/// INSERT (or Arrow's, when a batch is built).
fn data_error(message: String) -> QueryError {
    if message.contains("is declared as non-nullable but contains null values") {
        QueryError::new(ErrorKind::NotNullViolation, message)
    } else if message.starts_with("Cannot cast string") {
        QueryError::new(ErrorKind::InvalidTextRepresentation, message)
    } else {
        QueryError::new(ErrorKind::DataException, message)
    }
}

/// What a client is told of a feature DataFusion lacks: in the user's terms where the
/// message is DataFusion's internal one.
fn unsupported_message(message: &str) -> String {
    let subquery = ["ScalarSubquery", "Exists", "InSubquery"]
        .into_iter()
        .find(|kind| message.contains(&format!("does not support logical expression {kind}")));
    match subquery {
        // DataFusion decorrelates a subquery only when it is joined to the outer row by
        // equalities it can turn into a join.
        Some(_) => "not supported: a correlated subquery that refers to the outer row \
                    other than by equality (such as `a.id < t.id`); write it as a join \
                    or with a window function"
            .to_string(),
        None => format!("not supported: {message}"),
    }
}

fn classify_plan(message: String) -> QueryError {
    let kind = if message.starts_with("table '") && message.contains("' not found") {
        ErrorKind::UndefinedTable
    } else if message.contains("Invalid function") || message.contains("Unknown function") {
        ErrorKind::UndefinedFunction
    } else if message.contains("Cannot infer common argument type")
        || message.contains("No function matches the given name and argument types")
        || message.contains("does not support")
    {
        ErrorKind::DatatypeMismatch
    } else {
        ErrorKind::InvalidParameterValue
    };
    let message = match kind {
        // DataFusion appends planner hints after a newline; keep the first line.
        ErrorKind::UndefinedFunction => message.lines().next().unwrap_or_default().to_string(),
        _ => message,
    };
    QueryError::new(kind, message)
}

/// The prefix of an execution error that is PostgreSQL's 22003 ("integer out of
/// range"), as the gateway's checked arithmetic raises it.
pub(crate) const OUT_OF_RANGE: &str = "out of range:";

/// Internal failures reach the client without detail; the detail goes to the log.
fn internal(detail: &str) -> QueryError {
    let reference = reference_text(rand_reference());
    // The same text in the log and in the message, so an operator can grep for what
    // the user reports.
    tracing::error!(reference = %reference, detail, "internal error");
    QueryError::new(
        ErrorKind::Internal,
        format!("internal error (reference {reference}; details are in the server log)"),
    )
}

/// How a reference is written, in the client's message and in the log alike.
fn reference_text(reference: u32) -> String {
    format!("{reference:08x}")
}

fn rand_reference() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_errors() {
        let e: QueryError = DataFusionError::Plan("table 'lake.tpch.nope' not found".into()).into();
        assert_eq!(e.kind, ErrorKind::UndefinedTable);
        let e: QueryError = DataFusionError::Context(
            "ctx".into(),
            Box::new(DataFusionError::Plan(
                "Invalid function 'nope'.\nDid you mean 'now'?".into(),
            )),
        )
        .into();
        assert_eq!(e.kind, ErrorKind::UndefinedFunction);
        assert_eq!(e.message, "Invalid function 'nope'.");
        let e: QueryError = DataFusionError::Internal("secret /src/x.rs:10".into()).into();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(!e.message.contains("secret"));
    }

    #[test]
    fn reference_is_one_text() {
        assert_eq!(reference_text(1395315138), "532ad1c2");
        assert_eq!(reference_text(7), "00000007");
    }
}

//! The planner's one error type, classified so frontends can map it to SQLSTATE and
//! gRPC codes without reading messages.

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use lakegate_catalog::WriteError;
use lakegate_security::rules::{PermissionDenied, PolicyError};

pub use crate::error_kind::ErrorKind;
use crate::error_text::{Variant, kind_by_text};

/// An error with its kind and a message safe to show the client.
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
            // Still shared (a hash join's build side fails every partition that
            // waits for it): classified by a copy of what it says.
            Err(shared) => match unshared(&shared) {
                Some(copy) => classify(copy),
                None => {
                    storage_fault(shared.as_ref()).unwrap_or_else(|| internal(&shared.to_string()))
                }
            },
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
        // DataFusion's memory pool refusing a reservation.
        DataFusionError::ResourcesExhausted(message) => {
            QueryError::new(ErrorKind::OutOfMemory, format!("out of memory: {message}"))
        }
        DataFusionError::Execution(message) => {
            // Our own arithmetic's overflow (pg_compat), by the prefix it promises.
            if let Some(range) = message.strip_prefix(lakegate_pg_compat::OUT_OF_RANGE) {
                QueryError::new(ErrorKind::NumericOutOfRange, range.trim().to_string())
            } else if let Some(limit) = message.strip_prefix(lakegate_pg_compat::LIMIT_EXCEEDED) {
                QueryError::new(ErrorKind::ProgramLimitExceeded, limit.trim().to_string())
            } else if let Some(failure) = message.strip_prefix(PLAN_NOT_SENT) {
                // datafusion-distributed turns a worker's refusal of a stage's plan
                // (unreachable, unauthenticated) into text, unlike the same refusal
                // met while reading the stage: the same failure, the same 08006.
                tracing::warn!(failure, "a distributed worker refused a stage's plan");
                QueryError::new(
                    ErrorKind::ConnectionFailure,
                    format!("a distributed worker failed the query: worker {failure}"),
                )
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
        DataFusionError::ObjectStore(store) => object_store_error(&store),
        // DataFusion's own checks that user input reaches: the first line says what is
        // wrong; the rest asks for a bug report.
        DataFusionError::Internal(message) => match kind_by_text(Variant::Internal, &message) {
            Some(rule) => QueryError::new(
                rule.kind,
                message.lines().next().unwrap_or_default().to_string(),
            ),
            None => internal(&message),
        },
        DataFusionError::Configuration(message) => {
            QueryError::new(ErrorKind::InvalidParameterValue, message)
        }
        other => storage_fault(&other).unwrap_or_else(|| internal(&other.to_string())),
    }
}

/// A copy of a shared error that says what it says, for the kinds classified by their
/// message alone.
fn unshared(shared: &DataFusionError) -> Option<DataFusionError> {
    match shared {
        DataFusionError::ResourcesExhausted(m) => {
            Some(DataFusionError::ResourcesExhausted(m.clone()))
        }
        DataFusionError::Execution(m) => Some(DataFusionError::Execution(m.clone())),
        DataFusionError::Plan(m) => Some(DataFusionError::Plan(m.clone())),
        DataFusionError::NotImplemented(m) => Some(DataFusionError::NotImplemented(m.clone())),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            unshared(inner)
        }
        DataFusionError::Shared(inner) => unshared(inner),
        DataFusionError::ArrowError(arrow, _) => {
            use datafusion::arrow::error::ArrowError;
            let copy = match arrow.as_ref() {
                ArrowError::ExternalError(e) => {
                    return e.downcast_ref::<DataFusionError>().and_then(unshared);
                }
                ArrowError::DivideByZero => ArrowError::DivideByZero,
                ArrowError::CastError(m) => ArrowError::CastError(m.clone()),
                ArrowError::ParseError(m) => ArrowError::ParseError(m.clone()),
                ArrowError::InvalidArgumentError(m) => ArrowError::InvalidArgumentError(m.clone()),
                ArrowError::ComputeError(m) => ArrowError::ComputeError(m.clone()),
                ArrowError::ArithmeticOverflow(m) => ArrowError::ArithmeticOverflow(m.clone()),
                _ => return None,
            };
            Some(DataFusionError::ArrowError(Box::new(copy), None))
        }
        DataFusionError::External(e) => match e.downcast_ref::<lakegate_catalog::SourceError>() {
            Some(source) => Some(DataFusionError::External(Box::new(
                lakegate_catalog::SourceError {
                    fault: source.fault,
                    message: source.message.clone(),
                },
            ))),
            None => e.downcast_ref::<DataFusionError>().and_then(unshared),
        },
        _ => None,
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
                    Err(inner) => match inner.downcast::<lakegate_catalog::SourceError>() {
                        Ok(source) => (*source).into(),
                        Err(inner) => match inner.downcast::<tonic::Status>() {
                            Ok(status) => worker_failure(&status),
                            Err(inner) => permission_or_policy(inner),
                        },
                    },
                },
            },
        },
    }
}

/// How datafusion-distributed 1.0 (`send_plan_task`) begins the text of a worker's
/// refusal of a stage's plan.
const PLAN_NOT_SENT: &str = "Error sending plan to worker ";

/// A distributed worker that could not be reached, refused the coordinator or failed
/// outside the plan (its plan's own errors come back as DataFusion errors): 08006,
/// with what the worker or the connection said.
fn worker_failure(status: &tonic::Status) -> QueryError {
    use std::error::Error;
    let mut detail = status.message().to_string();
    let mut source = status.source();
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    // The debug form names the worker's address.
    tracing::warn!(?status, "a distributed worker failed a query");
    QueryError::new(
        ErrorKind::ConnectionFailure,
        format!(
            "a distributed worker failed the query ({:?}): {detail}",
            status.code()
        ),
    )
}

impl From<PermissionDenied> for QueryError {
    fn from(denied: PermissionDenied) -> Self {
        QueryError::new(ErrorKind::InsufficientPrivilege, denied.message)
    }
}

fn permission_or_policy(inner: Box<dyn std::error::Error + Send + Sync>) -> QueryError {
    match inner.downcast::<PermissionDenied>() {
        Ok(denied) => QueryError::new(ErrorKind::InsufficientPrivilege, denied.message),
        Err(inner) => match inner.downcast::<PolicyError>() {
            Ok(policy) => QueryError::new(ErrorKind::PolicyMisconfigured, policy.message),
            Err(other) => match storage_fault(other.as_ref()) {
                Some(fault) => fault,
                None => {
                    let text = other.to_string();
                    match kind_by_text(Variant::External, &text) {
                        Some(rule) => QueryError::new(rule.kind, text),
                        None => internal(&text),
                    }
                }
            },
        },
    }
}

/// Object storage failing under a library that wraps its error (Iceberg's FileIO reading
/// a manifest, Parquet reading a file): the object_store error anywhere in the chain of
/// causes, after its retries, as 58030 with what it says.
fn storage_fault(error: &(dyn std::error::Error + 'static)) -> Option<QueryError> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(store) = current.downcast_ref::<object_store::Error>() {
            return Some(object_store_error(store));
        }
        cause = current.source();
    }
    // Iceberg's metadata cache hands a failed load to every waiter as text ("Failed to
    // load manifest list in cache, source: … Generic S3 error: …"): the store's error
    // is then found by its words.
    let text = error.to_string();
    OBJECT_STORES.iter().find_map(|store| {
        let at = text.find(&format!("Generic {store} error: "))?;
        Some(QueryError::new(
            ErrorKind::IoError,
            format!("could not read from object storage: {}", &text[at..]),
        ))
    })
}

/// How object_store names its stores in a `Generic` error.
const OBJECT_STORES: [&str; 5] = ["S3", "GCS", "MicrosoftAzure", "HTTP", "LocalFileSystem"];

fn object_store_error(error: &object_store::Error) -> QueryError {
    QueryError::new(
        ErrorKind::IoError,
        format!("could not read from object storage: {error}"),
    )
}

impl From<lakegate_catalog::CatalogError> for QueryError {
    fn from(e: lakegate_catalog::CatalogError) -> Self {
        match e {
            lakegate_catalog::CatalogError::Write(write) => write.into(),
            other => internal(&other.to_string()),
        }
    }
}

impl From<lakegate_catalog::SourceError> for QueryError {
    fn from(e: lakegate_catalog::SourceError) -> Self {
        use lakegate_catalog::SourceFault;
        let kind = match e.fault {
            SourceFault::Unreachable => ErrorKind::UnableToConnect,
            SourceFault::ConnectionLost => ErrorKind::ConnectionFailure,
            SourceFault::Storage => ErrorKind::IoError,
        };
        QueryError::new(kind, e.message)
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
    let kind = kind_by_text(Variant::Data, &message).map_or(ErrorKind::DataException, |r| r.kind);
    QueryError::new(kind, message)
}

/// What a client is told of a feature DataFusion lacks: in the user's terms where the
/// message is DataFusion's internal one.
fn unsupported_message(message: &str) -> String {
    let subquery = kind_by_text(Variant::NotImplemented, message).and_then(|_| {
        ["ScalarSubquery", "Exists", "InSubquery"]
            .into_iter()
            .find(|kind| message.contains(kind))
    });
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
    let kind = kind_by_text(Variant::Plan, &message)
        .map_or(ErrorKind::InvalidParameterValue, |rule| rule.kind);
    let message = match kind {
        // DataFusion appends planner hints after a newline; keep the first line.
        ErrorKind::UndefinedFunction => message.lines().next().unwrap_or_default().to_string(),
        _ => message,
    };
    QueryError::new(kind, message)
}

/// Internal failures reach the client without detail; the detail goes to the log.
/// An internal error: the detail goes to the log with a reference, the client gets the
/// reference.
pub(crate) fn internal_error(detail: &str) -> QueryError {
    internal(detail)
}

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
    fn object_storage_errors_are_io_errors_even_as_text() {
        let typed = DataFusionError::ObjectStore(Box::new(object_store::Error::Generic {
            store: "S3",
            source: "503 Service Unavailable".into(),
        }));
        assert_eq!(QueryError::from(typed).kind, ErrorKind::IoError);
        let text = DataFusionError::External(
            "Unexpected => Failed to load manifest list in cache, source: Generic S3 error: \
             Error performing HEAD http://x/a.avro after 4 retries"
                .into(),
        );
        let error = QueryError::from(text);
        assert_eq!(error.kind, ErrorKind::IoError);
        assert!(
            error
                .message
                .starts_with("could not read from object storage: Generic S3 error"),
            "{}",
            error.message
        );
        // Every partition waiting for a failed scan holds the same shared error.
        let shared = std::sync::Arc::new(DataFusionError::External(
            "Unexpected => object storage, s3://b/a.avro, source: Generic S3 error: 503".into(),
        ));
        let _waiter = shared.clone();
        assert_eq!(
            QueryError::from(DataFusionError::Shared(shared)).kind,
            ErrorKind::IoError
        );
    }

    #[test]
    fn a_shared_arrow_error_is_classified_as_its_own() {
        use datafusion::arrow::error::ArrowError;
        let parse = |m: &str| ArrowError::ParseError(m.to_string());
        let alone = QueryError::from(DataFusionError::ArrowError(
            Box::new(parse("Invalid input syntax for type interval: \"ALGERIA\"")),
            None,
        ));
        // A scalar subquery's failure, held by every partition that waits for it.
        let shared = std::sync::Arc::new(DataFusionError::ArrowError(
            Box::new(parse("Invalid input syntax for type interval: \"ALGERIA\"")),
            None,
        ));
        let _waiter = shared.clone();
        let error = QueryError::from(DataFusionError::Shared(shared));
        assert_ne!(error.kind, ErrorKind::Internal);
        assert_eq!(error.kind, alone.kind);
    }

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
    fn a_stage_plan_a_worker_refused_is_a_connection_failure() {
        // The text datafusion-distributed makes of the worker's tonic::Status.
        let refused = DataFusionError::Execution(format!(
            "{PLAN_NOT_SENT}http://127.0.0.1:1/: code: 'The request does not have valid \
             authentication credentials', message: \"the worker token is not signed with \
             this deployment's keys\""
        ));
        let e = QueryError::from(refused);
        assert_eq!(e.kind, ErrorKind::ConnectionFailure);
        assert!(
            e.message.starts_with(
                "a distributed worker failed the query: worker http://127.0.0.1:1/: code:"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn reference_is_one_text() {
        assert_eq!(reference_text(1395315138), "532ad1c2");
        assert_eq!(reference_text(7), "00000007");
    }
}

#[cfg(test)]
#[path = "error_text_tests.rs"]
mod error_text_tests;

//! The catalog crate's one error type.

/// Errors raised while opening catalogs or seeding data.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The configuration names something that cannot work.
    #[error("catalog {catalog:?}: {message}")]
    Config { catalog: String, message: String },
    /// An error from the Iceberg library, with what we were doing.
    #[error("{context}: {source}")]
    Iceberg {
        context: String,
        #[source]
        source: Box<iceberg::Error>,
    },
    /// An error from DataFusion or Arrow while producing data.
    #[error("{context}: {source}")]
    DataFusion {
        context: String,
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A write refused or failed for a reason the client should see.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A local file-system error.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl CatalogError {
    pub(crate) fn iceberg(context: impl Into<String>) -> impl FnOnce(iceberg::Error) -> Self {
        let context = context.into();
        move |source| Self::Iceberg {
            context,
            source: Box::new(source),
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

/// Result alias for this crate.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// A source that failed in a way the client should be told plainly: a database that
/// cannot be reached or whose connection was lost mid-query, or object storage that still
/// fails after its retries. The message names the source and what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub fault: SourceFault,
    pub message: String,
}

/// What kind of source failure a [`SourceError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFault {
    /// No connection could be made (PostgreSQL's 08001, as postgres_fdw reports it).
    Unreachable,
    /// The connection broke while in use (08006).
    ConnectionLost,
    /// Reading or writing storage failed after retries (58030).
    Storage,
}

/// Why a write to a table was refused or failed, for the client.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A NULL for a required column.
    #[error("null value in column \"{column}\" of table {table} violates not-null constraint")]
    NotNull { table: String, column: String },
    /// Another writer committed first, and retrying did not help.
    #[error("could not commit to {table}: another writer committed first ({message})")]
    Conflict { table: String, message: String },
    /// The table exists already.
    #[error("table {table} already exists")]
    AlreadyExists { table: String },
    /// A write this source cannot take.
    #[error("{message}")]
    Unsupported { message: String },
}

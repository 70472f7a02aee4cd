//! Errors of the semantic layer: diagnostics of model files (file, line, column, field),
//! and errors of queries over semantic tables (with the SQLSTATE class they map to).

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: u64,
    /// 1-based column; 0 when unknown.
    pub column: u64,
    /// What is wrong, naming the field.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn at(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    pub(crate) fn file(file: &Path, message: impl Into<String>) -> Self {
        Self::at(file, 0, 0, message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file.display(), self.message),
            (line, 0) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            (line, column) => write!(
                f,
                "{}:{line}:{column}: {}",
                self.file.display(),
                self.message
            ),
        }
    }
}

/// Every problem found in a set of model files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub(crate) fn one(diagnostic: Diagnostic) -> Self {
        Self(vec![diagnostic])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// What kind of mistake a query over semantic tables made; the planner maps each to a
/// SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// A name that is not a column of the semantic table (42703).
    UndefinedColumn,
    /// A measure used where rows are filtered or grouped, or a dimension outside the
    /// grouping (42803).
    Grouping,
    /// A measure wrapped in an aggregate that does not match its type (42803).
    WrongAggregate,
    /// A query shape the semantic layer does not expand (0A000).
    Unsupported,
    /// A measure the models cannot compute without inflating it (0A000).
    FanOut,
}

/// An error in a query over semantic tables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// The kind, for the SQLSTATE.
    pub kind: QueryErrorKind,
    /// What is wrong, naming the table and column.
    pub message: String,
}

impl QueryError {
    pub(crate) fn new(kind: QueryErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

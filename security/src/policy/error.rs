//! Why a policy could not be loaded: the gateway refuses to start on it, and a reload
//! keeps the last good policy and reports it.

use std::path::PathBuf;

/// A policy (or its model) that cannot be read, parsed or accepted.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    /// A file could not be read.
    #[error("reading {what} {}: {source}", path.display())]
    Read {
        /// `model`, `policy` or `tags`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the policy file is malformed; the message starts with `file:line`.
    #[error("{0}")]
    Line(String),
    /// The Casbin model does not parse.
    #[error("model: {0}")]
    Model(String),
    /// Casbin refused the policy's lines.
    #[error("{file}: {message}")]
    Enforcer {
        /// The policy file's name.
        file: String,
        /// Casbin's message.
        message: String,
    },
    /// The model's matcher cannot be evaluated.
    #[error("model matcher: {0}")]
    Matcher(String),
    /// The deployment's validator refused it (a named table does not exist).
    #[error("{0}")]
    Rejected(String),
}

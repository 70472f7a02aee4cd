//! The security crate's one error type.

/// Errors raised while loading users or checking credentials.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A stored SCRAM verifier does not have PostgreSQL's `SCRAM-SHA-256$…` form.
    #[error("invalid SCRAM verifier for user {user:?}: {reason}")]
    InvalidVerifier { user: String, reason: String },
    /// Two users share one name in the configuration.
    #[error("user {0:?} is defined twice")]
    DuplicateUser(String),
    /// A user name that cannot be used (empty, or with control characters).
    #[error("invalid user name {0:?}")]
    InvalidUserName(String),
}

/// A denied object or action (SQLSTATE 42501): raised by the rules for reads and by
/// the policy's `authorize` for everything else.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PermissionDenied {
    /// Message naming the object.
    pub message: String,
}

/// Result alias for this crate.
pub type Result<T, E = SecurityError> = std::result::Result<T, E>;

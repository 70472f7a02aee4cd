//! The state of an open transaction block.

/// An open transaction block.
#[derive(Debug, Default)]
pub(crate) struct TransactionBlock {
    /// Savepoint names, oldest first; a name may repeat (the newest wins).
    pub(crate) savepoints: Vec<String>,
}

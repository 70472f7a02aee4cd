//! The query history: an Iceberg table of finished queries, its store and its recovery
//! from the audit trail.

pub(crate) mod recovery;
pub(crate) mod store;

pub use store::{HistoryConfig, HistoryRecord, HistoryStore};

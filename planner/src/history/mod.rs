//! The query history: an Iceberg table of finished queries, its store and its recovery
//! from the audit trail.

mod lease;
pub(crate) mod record;
pub(crate) mod recovery;
pub(crate) mod store;

pub use store::{HistoryConfig, HistoryRecord, HistoryStore};

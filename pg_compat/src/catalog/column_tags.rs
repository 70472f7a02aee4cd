//! The classification tags of a column, as the session's policy gives them, for
//! pg_description (shared by the pg_catalog schema and the tables it builds).

use std::sync::Arc;

/// `(catalog.schema.table, column) -> tags`.
pub type ColumnTagsFn = dyn Fn(&str, &str) -> Vec<String> + Send + Sync;

/// The tags of a column.
#[derive(Clone)]
pub struct ColumnTags(pub Arc<ColumnTagsFn>);

impl std::fmt::Debug for ColumnTags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ColumnTags")
    }
}

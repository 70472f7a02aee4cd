//! Table names with a suffix: Trino's metadata tables (`"orders$snapshots"`) and the
//! pinned snapshots that time travel resolves to (`"orders$snapshot=123"`).
//!
//! The planner turns `FOR VERSION AS OF` and `FOR TIMESTAMP AS OF` into the second form,
//! so each reference in a statement can read its own snapshot. Policies always apply to
//! the base table: [`base_table`] strips the suffix.

use std::fmt;

/// What a name in an Iceberg schema refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableRef<'a> {
    /// The table at its current snapshot.
    Current(&'a str),
    /// The table at one snapshot.
    Snapshot(&'a str, i64),
    /// One of the table's metadata tables.
    Metadata(&'a str, MetadataKind),
}

/// The metadata tables of an Iceberg table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataKind {
    /// Every snapshot: id, parent, time, operation, summary.
    Snapshots,
    /// The snapshot log: which snapshot was current when, and whether it is an
    /// ancestor of the current one.
    History,
    /// The manifests of the current snapshot.
    Manifests,
    /// The data files of the current snapshot, with their statistics.
    Files,
    /// Per partition of the current snapshot: rows and files.
    Partitions,
}

impl MetadataKind {
    /// Every kind, in the order the README lists them.
    pub const ALL: [MetadataKind; 5] = [
        MetadataKind::Snapshots,
        MetadataKind::History,
        MetadataKind::Manifests,
        MetadataKind::Files,
        MetadataKind::Partitions,
    ];

    /// The suffix after `$`.
    pub fn name(self) -> &'static str {
        match self {
            MetadataKind::Snapshots => "snapshots",
            MetadataKind::History => "history",
            MetadataKind::Manifests => "manifests",
            MetadataKind::Files => "files",
            MetadataKind::Partitions => "partitions",
        }
    }
}

impl fmt::Display for MetadataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name's unknown suffix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "table {name:?}: unknown suffix ${suffix} (metadata tables are $snapshots, $history, \
     $manifests, $files and $partitions)"
)]
pub struct UnknownSuffix {
    /// The whole name.
    pub name: String,
    /// What followed `$`.
    pub suffix: String,
}

/// Reads a table name of an Iceberg schema.
pub fn parse_table_ref(name: &str) -> Result<TableRef<'_>, UnknownSuffix> {
    let Some((base, suffix)) = name.split_once('$') else {
        return Ok(TableRef::Current(name));
    };
    if let Some(id) = suffix.strip_prefix("snapshot=")
        && let Ok(id) = id.parse()
    {
        return Ok(TableRef::Snapshot(base, id));
    }
    MetadataKind::ALL
        .into_iter()
        .find(|kind| kind.name() == suffix)
        .map(|kind| TableRef::Metadata(base, kind))
        .ok_or_else(|| UnknownSuffix {
            name: name.to_string(),
            suffix: suffix.to_string(),
        })
}

/// The name that reads `table` at `snapshot_id`.
pub fn snapshot_name(table: &str, snapshot_id: i64) -> String {
    format!("{table}$snapshot={snapshot_id}")
}

/// The table a (possibly suffixed) name belongs to, and whether the name is one of
/// its metadata tables.
pub fn base_table(name: &str) -> (&str, bool) {
    match parse_table_ref(name) {
        Ok(TableRef::Current(base)) | Ok(TableRef::Snapshot(base, _)) => (base, false),
        Ok(TableRef::Metadata(base, _)) => (base, true),
        Err(_) => (name.split('$').next().unwrap_or(name), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_suffixes() {
        assert_eq!(parse_table_ref("orders"), Ok(TableRef::Current("orders")));
        assert_eq!(
            parse_table_ref("orders$snapshot=42"),
            Ok(TableRef::Snapshot("orders", 42))
        );
        assert_eq!(
            parse_table_ref("orders$files"),
            Ok(TableRef::Metadata("orders", MetadataKind::Files))
        );
        assert!(parse_table_ref("orders$nope").is_err());
        assert!(parse_table_ref("orders$snapshot=x").is_err());
        assert_eq!(base_table("orders$snapshot=42"), ("orders", false));
        assert_eq!(base_table("orders$history"), ("orders", true));
        assert_eq!(snapshot_name("orders", 7), "orders$snapshot=7");
    }
}

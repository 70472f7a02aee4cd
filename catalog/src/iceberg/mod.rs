//! Iceberg catalogs served to DataFusion without stale metadata.
//!
//! iceberg-datafusion's own `IcebergCatalogProvider` lists namespaces and tables once
//! and keeps them. Ours asks the Iceberg catalog for a table's current metadata every
//! time a statement resolves the table, and hands DataFusion a provider pinned to the
//! snapshot that was current at that moment: a table created or appended to by another
//! process is seen by the next statement, and one statement reads one snapshot per table.

mod append_exec;
pub mod appender;
mod compact;
mod compact_sort;
mod lake_storage;
mod manifest_stats;
mod metadata_tables;
mod metered_table;
pub mod names;
mod native_scan;
mod provider;
mod read_schema;
mod scan_filters;
mod snapshot_files;
mod sql_locations;
mod tables;
mod views;

pub use append_exec::IcebergAppendExec;
pub use compact::{Compaction, compact};
pub use metadata_tables::metadata_table;
pub use metered_table::MeteredIcebergTable;
pub(crate) use native_scan::IcebergScanInfo;
pub use native_scan::{NativeIcebergScan, native_scan_snapshot};
pub use read_schema::{is_read_schema, without_scan_metadata};
pub use tables::iceberg_type;

pub use provider::{LakeCatalog, LakeSchema};
pub use snapshot_files::snapshot_cache_figures;
pub(crate) use snapshot_files::snapshot_files;

//! Which version of its data a table reads, named so that two reads of the same
//! version get the same name: what a results cache keys a result's inputs by.

use datafusion::catalog::TableProvider;

use crate::iceberg::MeteredIcebergTable;
use crate::metered_files::MeteredFileTable;

/// The version of the data `provider` reads: an Iceberg table's metadata file and
/// snapshot, a Delta table's location and version. `None` for sources whose data
/// can change without a new version (PostgreSQL tables, files catalogs, the gateway's
/// own tables).
pub fn data_version(provider: &dyn TableProvider) -> Option<String> {
    let any = provider.as_any();
    if let Some(table) = any.downcast_ref::<MeteredIcebergTable>() {
        let metadata = table.table().metadata();
        let snapshot = table
            .snapshot_id()
            .or_else(|| metadata.current_snapshot_id());
        // The metadata file is new with every commit (and unique to the table), so a
        // schema change without a snapshot is a new version too.
        let location = table
            .table()
            .metadata_location()
            .map(str::to_string)
            .unwrap_or_else(|| table.table().identifier().to_string());
        return Some(match snapshot {
            Some(id) => format!("iceberg:{location}@{id}"),
            None => format!("iceberg:{location}@empty"),
        });
    }
    if let Some(table) = any.downcast_ref::<MeteredFileTable>() {
        return table.version().map(str::to_string);
    }
    None
}

/// The metadata file an Iceberg table reading its current snapshot was loaded from:
/// while the catalog still lists that file, the table reads the same data. `None` for
/// other tables, and for Iceberg tables pinned to a snapshot (time travel).
pub fn current_metadata_location(provider: &dyn TableProvider) -> Option<&str> {
    let table = provider.as_any().downcast_ref::<MeteredIcebergTable>()?;
    if table.snapshot_id().is_some() {
        return None;
    }
    table.table().metadata_location()
}

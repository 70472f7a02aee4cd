//! Compaction of an Iceberg table's small data files (`CALL system.optimize`): in each
//! partition of the current spec, the live data files smaller than three quarters of
//! the target size are read and written again as files of the target size, and the
//! change is committed as one `replace` snapshot. Readers of any snapshot see the same
//! rows before and after; earlier snapshots keep their files for time travel. A table
//! that declares a sort order gets its new files written in it (compact_sort.rs).
//!
//! iceberg-rust 0.10 has no replace action, so the snapshot is built here with its
//! public writers: one new manifest holds the new files (added), the files replaced
//! (deleted) and the other live files of the manifests they came from (existing);
//! untouched manifests are kept as they are. The new metadata file is then swapped in
//! the SQL catalog's table row compare-and-set, exactly as iceberg-catalog-sql commits:
//! a writer that committed in between makes the swap match no row, and the compaction
//! fails cleanly (its files are removed) instead of overwriting that commit.

use std::collections::HashMap;
use std::str::FromStr;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{StreamExt, TryStreamExt};
use iceberg::MetadataLocation;
use iceberg::scan::FileScanTask;
use iceberg::spec::{
    DataContentType, FormatVersion, MAIN_BRANCH, ManifestContentType, ManifestEntryRef,
    ManifestFile, ManifestListWriter, ManifestWriterBuilder, Operation, PartitionKey, Snapshot,
    SnapshotReference, SnapshotRetention, SnapshotSummaryCollector, Struct, Summary,
    TableMetadataBuilder,
};
use iceberg::table::Table;
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use super::LakeCatalog;
use super::compact_sort::{sort_ordering, sorted};
use crate::iceberg::appender::TableAppender;
use crate::{CatalogError, Result, WriteError};

/// What one compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compaction {
    /// Live data files before.
    pub files_before: u64,
    /// Small files read and replaced.
    pub files_rewritten: u64,
    /// Files written in their place.
    pub files_written: u64,
    /// Bytes of the files replaced.
    pub bytes_rewritten: u64,
    /// Bytes of the files written.
    pub bytes_written: u64,
    /// Rows moved.
    pub rows: u64,
    /// The `replace` snapshot committed; `None` when there was nothing to compact.
    pub snapshot_id: Option<i64>,
}

/// One live data file of the current snapshot, and the manifest it is listed in.
struct Live {
    manifest: usize,
    entry: ManifestEntryRef,
}

/// Compacts the small files of `table` (of catalog `lake`) into files of
/// `target_file_size` bytes (default: the table's `write.target-file-size-bytes`).
pub async fn compact(
    lake: &LakeCatalog,
    table: &Table,
    target_file_size: Option<u64>,
) -> Result<Compaction> {
    let name = format!("{}.{}", lake.name(), table.identifier());
    let unsupported = |message: String| CatalogError::Write(WriteError::Unsupported { message });
    let iceberg = |what: &str| CatalogError::iceberg(format!("{what} {name}"));
    let rewrite_error = |e: DataFusionError| CatalogError::Iceberg {
        context: format!("rewriting {name}"),
        source: Box::new(iceberg::Error::new(
            iceberg::ErrorKind::DataInvalid,
            e.to_string(),
        )),
    };
    let Some(uri) = lake.sql_uri() else {
        return Err(unsupported(format!(
            "cannot compact {name}: compaction commits through an iceberg-sql catalog's \
             database, and catalog {} is not one",
            lake.name()
        )));
    };
    let metadata = table.metadata();
    if metadata.format_version() != FormatVersion::V2 {
        return Err(unsupported(format!(
            "cannot compact {name}: only Iceberg format version 2 tables are compacted"
        )));
    }
    let Some(snapshot) = metadata.current_snapshot().cloned() else {
        return Ok(Compaction::default());
    };
    let properties = metadata
        .table_properties()
        .map_err(iceberg("reading properties of"))?;
    let target = target_file_size.unwrap_or(properties.write_target_file_size_bytes as u64);
    let small = target / 4 * 3;
    let spec = metadata.default_partition_spec().clone();

    // Every live data file, by manifest.
    let manifests: Vec<ManifestFile> = table
        .manifest_list_reader(&snapshot)
        .load()
        .await
        .map_err(iceberg("reading the manifest list of"))?
        .entries()
        .to_vec();
    let mut entries: Vec<Vec<ManifestEntryRef>> = Vec::with_capacity(manifests.len());
    let mut live = Vec::new();
    for (index, manifest) in manifests.iter().enumerate() {
        let loaded = manifest
            .load_manifest(table.file_io())
            .await
            .map_err(iceberg("reading a manifest of"))?;
        let alive: Vec<ManifestEntryRef> = loaded
            .entries()
            .iter()
            .filter(|e| e.is_alive())
            .cloned()
            .collect();
        if manifest.content == ManifestContentType::Deletes && !alive.is_empty() {
            return Err(unsupported(format!(
                "cannot compact {name}: it has delete files, which compaction does not apply"
            )));
        }
        for entry in &alive {
            if entry.content_type() == DataContentType::Data {
                live.push(Live {
                    manifest: index,
                    entry: entry.clone(),
                });
            }
        }
        entries.push(alive);
    }
    let mut report = Compaction {
        files_before: live.len() as u64,
        ..Compaction::default()
    };

    // Small files of the current spec, by partition; a partition with one is left.
    let mut groups: Vec<(Struct, Vec<&Live>)> = Vec::new();
    for file in &live {
        let manifest = &manifests[file.manifest];
        if manifest.partition_spec_id != spec.spec_id() || file.entry.file_size_in_bytes() >= small
        {
            continue;
        }
        let partition = file.entry.data_file().partition();
        match groups.iter_mut().find(|(p, _)| p == partition) {
            Some((_, files)) => files.push(file),
            None => groups.push((partition.clone(), vec![file])),
        }
    }
    groups.retain(|(_, files)| files.len() > 1);
    if groups.is_empty() {
        return Ok(report);
    }

    // Each group's rows, read through iceberg's reader, written again.
    let tasks: Vec<FileScanTask> = table
        .scan()
        .snapshot_id(snapshot.snapshot_id())
        .select_all()
        .build()
        .map_err(iceberg("planning a scan of"))?
        .plan_files()
        .await
        .map_err(iceberg("planning a scan of"))?
        .try_collect()
        .await
        .map_err(iceberg("planning a scan of"))?;
    let mut written = Vec::new();
    let rewrite = async {
        for (partition, files) in &groups {
            let paths: Vec<&str> = files.iter().map(|f| f.entry.file_path()).collect();
            let group_tasks: Vec<FileScanTask> = tasks
                .iter()
                .filter(|t| paths.contains(&t.data_file_path.as_str()))
                .cloned()
                .collect();
            let key = match spec.is_unpartitioned() {
                true => None,
                false => Some(PartitionKey::new(
                    spec.as_ref().clone(),
                    metadata.current_schema().clone(),
                    partition.clone(),
                )),
            };
            let mut appender =
                TableAppender::with_target(table, key, Some(target as usize)).await?;
            let schema = appender.arrow_schema();
            let read = table
                .reader_builder()
                .build()
                .read(Box::pin(futures::stream::iter(
                    group_tasks.into_iter().map(Ok),
                )))
                .map_err(iceberg("reading small files of"))?
                .stream();
            // Iceberg's reader gives its own field metadata; rows are written with the
            // appender's schema, in the table's sort order if it declares one.
            let as_written = schema.clone();
            let read = read.map(move |batch| {
                let batch = batch.map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok(RecordBatch::try_new(
                    as_written.clone(),
                    batch.columns().to_vec(),
                )?)
            });
            let mut batches: SendableRecordBatchStream =
                Box::pin(RecordBatchStreamAdapter::new(schema.clone(), read));
            if let Some(ordering) = sort_ordering(table, &schema) {
                batches = sorted(batches, ordering).map_err(rewrite_error)?;
            }
            let mut rows = 0u64;
            while let Some(batch) = batches.try_next().await.map_err(rewrite_error)? {
                rows += batch.num_rows() as u64;
                appender.write(batch).await?;
            }
            let expected: u64 = files.iter().map(|f| f.entry.record_count()).sum();
            let new_files = appender.close().await?;
            written.extend(new_files);
            if rows != expected {
                return Err(unsupported(format!(
                    "cannot compact {name}: read {rows} rows from files whose manifests \
                     record {expected}; nothing was committed"
                )));
            }
            report.rows += rows;
        }
        Ok(())
    };
    let outcome = rewrite.await;
    let written_paths: Vec<String> = written.iter().map(|f| f.file_path().to_string()).collect();
    if let Err(e) = outcome {
        remove_files(table, &written_paths).await;
        return Err(e);
    }

    let replaced: Vec<&Live> = groups
        .iter()
        .flat_map(|(_, files)| files.iter().copied())
        .collect();
    report.files_rewritten = replaced.len() as u64;
    report.bytes_rewritten = replaced.iter().map(|f| f.entry.file_size_in_bytes()).sum();
    report.files_written = written.len() as u64;
    report.bytes_written = written.iter().map(|f| f.file_size_in_bytes()).sum();

    match commit(
        table,
        uri,
        lake.name(),
        &manifests,
        &entries,
        &replaced,
        written,
    )
    .await
    {
        Ok((snapshot_id, _)) => {
            report.snapshot_id = Some(snapshot_id);
            Ok(report)
        }
        Err((e, metadata_files)) => {
            remove_files(table, &written_paths).await;
            remove_files(table, &metadata_files).await;
            Err(e)
        }
    }
}

/// Deletes files this compaction wrote and did not commit (failures are logged: an
/// orphan file is harmless, only wasted space).
async fn remove_files(table: &Table, paths: &[String]) {
    for path in paths {
        if let Err(e) = table.file_io().delete(path).await {
            tracing::warn!(path, error = %e, "could not remove an uncommitted file");
        }
    }
}

type CommitFailure = (CatalogError, Vec<String>);

/// Writes the manifest, manifest list and metadata of the `replace` snapshot and swaps
/// the metadata in the catalog's table row; the new snapshot's id, or the error and the
/// metadata files written for it.
async fn commit(
    table: &Table,
    uri: &str,
    catalog_name: &str,
    manifests: &[ManifestFile],
    entries: &[Vec<ManifestEntryRef>],
    replaced: &[&Live],
    written: Vec<iceberg::spec::DataFile>,
) -> std::result::Result<(i64, Vec<String>), CommitFailure> {
    let name = table.identifier().to_string();
    let mut files = Vec::new();
    let result = async {
        let iceberg = |what: &str| CatalogError::iceberg(format!("{what} {name}"));
        let metadata = table.metadata();
        let schema = metadata.current_schema().clone();
        let spec = metadata.default_partition_spec().clone();
        let current = metadata.current_snapshot().cloned().ok_or_else(|| {
            iceberg("committing")(iceberg::Error::new(
                iceberg::ErrorKind::Unexpected,
                "the table lost its snapshot",
            ))
        })?;
        let snapshot_id = new_snapshot_id(table);
        let sequence = metadata.next_sequence_number();
        let commit_id = uuid_like(snapshot_id);
        let location = format!("{}/metadata", metadata.location());

        // One manifest: new files added, replaced ones deleted, the rest of their
        // manifests carried as existing.
        let touched: Vec<usize> = {
            let mut touched: Vec<usize> = replaced.iter().map(|f| f.manifest).collect();
            touched.sort_unstable();
            touched.dedup();
            touched
        };
        let manifest_path = format!("{location}/{commit_id}-m0.avro");
        files.push(manifest_path.clone());
        let output = table
            .file_io()
            .new_output(&manifest_path)
            .map_err(iceberg("writing a manifest of"))?;
        let mut writer = ManifestWriterBuilder::new(
            output,
            Some(snapshot_id),
            schema.clone(),
            spec.as_ref().clone(),
        )
        .build_v2_data();
        let mut summary = SnapshotSummaryCollector::default();
        for file in &written {
            summary.add_file(file, schema.clone(), spec.clone());
            writer
                .add_file(file.clone(), -1)
                .map_err(iceberg("writing a manifest of"))?;
        }
        let is_replaced = |entry: &ManifestEntryRef| {
            replaced
                .iter()
                .any(|r| r.entry.file_path() == entry.file_path())
        };
        for &index in &touched {
            for entry in &entries[index] {
                let sequence_number = entry.sequence_number.unwrap_or_default();
                if is_replaced(entry) {
                    summary.remove_file(entry.data_file(), schema.clone(), spec.clone());
                    writer
                        .add_delete_file(
                            entry.data_file.clone(),
                            sequence_number,
                            entry.file_sequence_number,
                        )
                        .map_err(iceberg("writing a manifest of"))?;
                } else {
                    writer
                        .add_existing_file(
                            entry.data_file.clone(),
                            entry
                                .snapshot_id
                                .unwrap_or(manifests[index].added_snapshot_id),
                            sequence_number,
                            entry.file_sequence_number,
                        )
                        .map_err(iceberg("writing a manifest of"))?;
                }
            }
        }
        let manifest = writer
            .write_manifest_file()
            .await
            .map_err(iceberg("writing a manifest of"))?;

        let list_path = format!("{location}/snap-{snapshot_id}-0-{commit_id}.avro");
        files.push(list_path.clone());
        let output = table
            .file_io()
            .new_output(&list_path)
            .map_err(iceberg("writing the manifest list of"))?
            .writer()
            .await
            .map_err(iceberg("writing the manifest list of"))?;
        let mut list =
            ManifestListWriter::v2(output, snapshot_id, Some(current.snapshot_id()), sequence);
        let kept = manifests
            .iter()
            .enumerate()
            .filter(|(i, _)| !touched.contains(i))
            .map(|(_, m)| m.clone());
        list.add_manifests(std::iter::once(manifest).chain(kept))
            .map_err(iceberg("writing the manifest list of"))?;
        list.close()
            .await
            .map_err(iceberg("writing the manifest list of"))?;

        let snapshot = Snapshot::builder()
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(Some(current.snapshot_id()))
            .with_sequence_number(sequence)
            .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
            .with_manifest_list(list_path.clone())
            .with_summary(Summary {
                operation: Operation::Replace,
                additional_properties: with_totals(
                    summary.build(),
                    &current.summary().additional_properties,
                ),
            })
            .with_schema_id(metadata.current_schema_id())
            .build();
        let current_location = table
            .metadata_location_result()
            .map_err(iceberg("committing"))?
            .to_string();
        let next = TableMetadataBuilder::new_from_metadata(
            metadata.clone(),
            Some(current_location.clone()),
        )
        .add_snapshot(snapshot)
        .and_then(|b| {
            b.set_ref(
                MAIN_BRANCH,
                SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
            )
        })
        .and_then(|b| b.build())
        .map_err(iceberg("building the metadata of"))?
        .metadata;
        let next_location = MetadataLocation::from_str(&current_location)
            .map_err(iceberg("committing"))?
            .with_next_version();
        files.push(next_location.to_string());
        next.write_to(table.file_io(), &next_location)
            .await
            .map_err(iceberg("writing the metadata of"))?;
        swap_metadata(
            uri,
            catalog_name,
            table,
            &current_location,
            &next_location.to_string(),
        )
        .await?;
        Ok(snapshot_id)
    }
    .await;
    match result {
        Ok(id) => Ok((id, files)),
        Err(e) => Err((e, files)),
    }
}

/// The catalog row's compare-and-set: the table now points at `next`, if it still
/// pointed at `current`.
async fn swap_metadata(
    uri: &str,
    catalog_name: &str,
    table: &Table,
    current: &str,
    next: &str,
) -> Result<()> {
    let name = table.identifier().to_string();
    let failed = |e: sqlx::Error| CatalogError::Iceberg {
        context: format!("committing {name} to the SQL catalog"),
        source: Box::new(iceberg::Error::new(
            iceberg::ErrorKind::Unexpected,
            e.to_string(),
        )),
    };
    let mut connection = SqliteConnectOptions::from_str(uri)
        .map_err(failed)?
        .busy_timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
        .map_err(failed)?;
    let swapped = sqlx::query(
        "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ? \
         WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? \
         AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) AND metadata_location = ?",
    )
    .bind(next)
    .bind(current)
    .bind(catalog_name)
    .bind(table.identifier().namespace().join("."))
    .bind(table.identifier().name())
    .bind(current)
    .execute(&mut connection)
    .await
    .map_err(failed)?;
    if swapped.rows_affected() == 0 {
        return Err(CatalogError::Write(WriteError::Conflict {
            table: name,
            message: "the table changed while it was compacted; run the compaction again".into(),
        }));
    }
    Ok(())
}

/// The summary's `added-*`/`deleted-*` figures with the table's totals after them.
fn with_totals(
    mut changes: HashMap<String, String>,
    previous: &HashMap<String, String>,
) -> HashMap<String, String> {
    let number = |map: &HashMap<String, String>, key: &str| {
        map.get(key)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or_default()
    };
    for (total, added, removed) in [
        ("total-data-files", "added-data-files", "deleted-data-files"),
        ("total-records", "added-records", "deleted-records"),
        ("total-files-size", "added-files-size", "removed-files-size"),
    ] {
        let value = number(previous, total) + number(&changes, added) - number(&changes, removed);
        changes.insert(total.into(), value.to_string());
    }
    for total in [
        "total-delete-files",
        "total-position-deletes",
        "total-equality-deletes",
    ] {
        changes.insert(total.into(), number(previous, total).to_string());
    }
    changes
}

/// A snapshot id unused by `table`: positive, random.
fn new_snapshot_id(table: &Table) -> i64 {
    loop {
        let id = (rand_u64() >> 1) as i64;
        if id != 0 && table.metadata().snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// A name for this commit's files, unique with the snapshot id.
fn uuid_like(snapshot_id: i64) -> String {
    format!("{:016x}-{:016x}", snapshot_id, rand_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_follow_the_changes() {
        let previous = HashMap::from([
            ("total-data-files".to_string(), "10".to_string()),
            ("total-records".to_string(), "1000".to_string()),
            ("total-files-size".to_string(), "5000".to_string()),
        ]);
        let changes = HashMap::from([
            ("added-data-files".to_string(), "1".to_string()),
            ("deleted-data-files".to_string(), "8".to_string()),
            ("added-records".to_string(), "800".to_string()),
            ("deleted-records".to_string(), "800".to_string()),
            ("added-files-size".to_string(), "3000".to_string()),
            ("removed-files-size".to_string(), "3900".to_string()),
        ]);
        let summary = with_totals(changes, &previous);
        assert_eq!(summary["total-data-files"], "3");
        assert_eq!(summary["total-records"], "1000");
        assert_eq!(summary["total-files-size"], "4100");
        assert_eq!(summary["total-delete-files"], "0");
    }
}

//! Trino-style metadata tables of an Iceberg table: `"orders$snapshots"`, `$history`,
//! `$manifests`, `$files` and `$partitions`, read from the table's metadata, manifest
//! list and manifests when a statement resolves them.
//!
//! iceberg-rust 0.10 inspects only snapshots and manifests, with map-typed columns that
//! Postgres clients cannot decode; all five are built here with plain column types
//! (maps and structs rendered as JSON text).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result as DFResult};
use iceberg::spec::{
    DataContentType, Literal, ManifestContentType, ManifestFile, SnapshotRef, Struct, Type,
};
use iceberg::table::Table;

use super::names::MetadataKind;

/// The metadata table `kind` of `table`, as its metadata is now.
pub async fn metadata_table(table: &Table, kind: MetadataKind) -> DFResult<Arc<dyn TableProvider>> {
    let batch = match kind {
        MetadataKind::Snapshots => snapshots(table),
        MetadataKind::History => history(table),
        MetadataKind::Manifests => manifests(table).await,
        MetadataKind::Files => files(table).await,
        MetadataKind::Partitions => partitions(table).await,
    }
    .map_err(|e| match e {
        Error::Iceberg(e) => DataFusionError::External(Box::new(e)),
        Error::Arrow(e) => DataFusionError::ArrowError(Box::new(e), None),
    })?;
    Ok(Arc::new(MemTable::try_new(
        batch.schema(),
        vec![vec![batch]],
    )?))
}

enum Error {
    Iceberg(iceberg::Error),
    Arrow(datafusion::arrow::error::ArrowError),
}

impl From<iceberg::Error> for Error {
    fn from(e: iceberg::Error) -> Self {
        Error::Iceberg(e)
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::Arrow(e)
    }
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
}

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<RecordBatch, Error> {
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn sorted_snapshots(table: &Table) -> Vec<&SnapshotRef> {
    let mut snapshots: Vec<&SnapshotRef> = table.metadata().snapshots().collect();
    snapshots.sort_by_key(|s| (s.timestamp_ms(), s.sequence_number()));
    snapshots
}

fn snapshots(table: &Table) -> Result<RecordBatch, Error> {
    let snapshots = sorted_snapshots(table);
    let summary = |s: &SnapshotRef| {
        let map: BTreeMap<&String, &String> = s.summary().additional_properties.iter().collect();
        serde_json::to_string(&map).unwrap_or_default()
    };
    batch(
        vec![
            Field::new("committed_at", timestamp(), false),
            Field::new("snapshot_id", DataType::Int64, false),
            Field::new("parent_id", DataType::Int64, true),
            Field::new("operation", DataType::Utf8, false),
            Field::new("manifest_list", DataType::Utf8, false),
            Field::new("summary", DataType::Utf8, false),
        ],
        vec![
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    snapshots.iter().map(|s| s.timestamp_ms() * 1000),
                )
                .with_timezone("+00:00"),
            ),
            Arc::new(Int64Array::from_iter_values(
                snapshots.iter().map(|s| s.snapshot_id()),
            )),
            Arc::new(Int64Array::from_iter(
                snapshots.iter().map(|s| s.parent_snapshot_id()),
            )),
            Arc::new(StringArray::from_iter_values(
                snapshots.iter().map(|s| s.summary().operation.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                snapshots.iter().map(|s| s.manifest_list()),
            )),
            Arc::new(StringArray::from_iter_values(
                snapshots.iter().map(|s| summary(s)),
            )),
        ],
    )
}

fn history(table: &Table) -> Result<RecordBatch, Error> {
    let metadata = table.metadata();
    // The current snapshot and its ancestors.
    let mut ancestors = HashSet::new();
    let mut next = metadata.current_snapshot_id();
    while let Some(id) = next {
        if !ancestors.insert(id) {
            break;
        }
        next = metadata
            .snapshot_by_id(id)
            .and_then(|s| s.parent_snapshot_id());
    }
    let log = metadata.history();
    batch(
        vec![
            Field::new("made_current_at", timestamp(), false),
            Field::new("snapshot_id", DataType::Int64, false),
            Field::new("parent_id", DataType::Int64, true),
            Field::new("is_current_ancestor", DataType::Boolean, false),
        ],
        vec![
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    log.iter().map(|l| l.timestamp_ms * 1000),
                )
                .with_timezone("+00:00"),
            ),
            Arc::new(Int64Array::from_iter_values(
                log.iter().map(|l| l.snapshot_id),
            )),
            Arc::new(Int64Array::from_iter(log.iter().map(|l| {
                metadata
                    .snapshot_by_id(l.snapshot_id)
                    .and_then(|s| s.parent_snapshot_id())
            }))),
            Arc::new(BooleanArray::from_iter(
                log.iter().map(|l| Some(ancestors.contains(&l.snapshot_id))),
            )),
        ],
    )
}

/// The manifests of the current snapshot (none for a table without one).
async fn current_manifests(table: &Table) -> Result<Vec<ManifestFile>, Error> {
    let Some(snapshot) = table.metadata().current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = table.manifest_list_reader(snapshot).load().await?;
    Ok(list.entries().to_vec())
}

async fn manifests(table: &Table) -> Result<RecordBatch, Error> {
    let manifests = current_manifests(table).await?;
    let count = |n: Option<u32>| n.map(i64::from);
    batch(
        vec![
            Field::new("path", DataType::Utf8, false),
            Field::new("length", DataType::Int64, false),
            Field::new("content", DataType::Utf8, false),
            Field::new("partition_spec_id", DataType::Int32, false),
            Field::new("added_snapshot_id", DataType::Int64, false),
            Field::new("added_data_files_count", DataType::Int64, true),
            Field::new("existing_data_files_count", DataType::Int64, true),
            Field::new("deleted_data_files_count", DataType::Int64, true),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(
                manifests.iter().map(|m| m.manifest_path.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(
                manifests.iter().map(|m| m.manifest_length),
            )),
            Arc::new(StringArray::from_iter_values(manifests.iter().map(
                |m| match m.content {
                    ManifestContentType::Data => "data",
                    ManifestContentType::Deletes => "deletes",
                },
            ))),
            Arc::new(Int32Array::from_iter_values(
                manifests.iter().map(|m| m.partition_spec_id),
            )),
            Arc::new(Int64Array::from_iter_values(
                manifests.iter().map(|m| m.added_snapshot_id),
            )),
            Arc::new(Int64Array::from_iter(
                manifests.iter().map(|m| count(m.added_files_count)),
            )),
            Arc::new(Int64Array::from_iter(
                manifests.iter().map(|m| count(m.existing_files_count)),
            )),
            Arc::new(Int64Array::from_iter(
                manifests.iter().map(|m| count(m.deleted_files_count)),
            )),
        ],
    )
}

/// One live file of the current snapshot.
struct LiveFile {
    content: &'static str,
    path: String,
    format: String,
    spec_id: i32,
    partition: String,
    records: i64,
    size: i64,
    lower: String,
    upper: String,
    nulls: String,
}

async fn live_files(table: &Table) -> Result<Vec<LiveFile>, Error> {
    let metadata = table.metadata();
    let schema = metadata.current_schema();
    let column = |id: &i32| {
        schema
            .name_by_field_id(*id)
            .map(str::to_string)
            .unwrap_or_else(|| id.to_string())
    };
    let mut out = Vec::new();
    for manifest in current_manifests(table).await? {
        let spec_id = manifest.partition_spec_id;
        let partition_type = metadata
            .partition_spec_by_id(spec_id)
            .map(|spec| spec.partition_type(schema))
            .transpose()?;
        for entry in manifest.load_manifest(table.file_io()).await?.entries() {
            if !entry.is_alive() {
                continue;
            }
            let file = entry.data_file();
            let bounds = |map: &std::collections::HashMap<i32, iceberg::spec::Datum>| {
                let named: BTreeMap<String, String> = map
                    .iter()
                    .map(|(k, v)| (column(k), v.to_string()))
                    .collect();
                serde_json::to_string(&named).unwrap_or_default()
            };
            let nulls: BTreeMap<String, u64> = file
                .null_value_counts()
                .iter()
                .map(|(k, v)| (column(k), *v))
                .collect();
            out.push(LiveFile {
                content: match file.content_type() {
                    DataContentType::Data => "data",
                    DataContentType::PositionDeletes => "position_deletes",
                    DataContentType::EqualityDeletes => "equality_deletes",
                },
                path: file.file_path().to_string(),
                format: format!("{:?}", file.file_format()).to_ascii_lowercase(),
                spec_id,
                partition: render_partition(file.partition(), partition_type.as_ref()),
                records: file.record_count() as i64,
                size: file.file_size_in_bytes() as i64,
                lower: bounds(file.lower_bounds()),
                upper: bounds(file.upper_bounds()),
                nulls: serde_json::to_string(&nulls).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// A partition as JSON (`{}` for an unpartitioned table).
fn render_partition(
    partition: &Struct,
    partition_type: Option<&iceberg::spec::StructType>,
) -> String {
    let Some(partition_type) = partition_type else {
        return "{}".into();
    };
    Literal::Struct(partition.clone())
        .try_into_json(&Type::Struct(partition_type.clone()))
        .map(|json| json.to_string())
        .unwrap_or_else(|_| "{}".into())
}

async fn files(table: &Table) -> Result<RecordBatch, Error> {
    let files = live_files(table).await?;
    batch(
        vec![
            Field::new("content", DataType::Utf8, false),
            Field::new("file_path", DataType::Utf8, false),
            Field::new("file_format", DataType::Utf8, false),
            Field::new("spec_id", DataType::Int32, false),
            Field::new("partition", DataType::Utf8, false),
            Field::new("record_count", DataType::Int64, false),
            Field::new("file_size_in_bytes", DataType::Int64, false),
            Field::new("lower_bounds", DataType::Utf8, false),
            Field::new("upper_bounds", DataType::Utf8, false),
            Field::new("null_value_counts", DataType::Utf8, false),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| f.content),
            )),
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| f.path.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| f.format.as_str()),
            )),
            Arc::new(Int32Array::from_iter_values(
                files.iter().map(|f| f.spec_id),
            )),
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| f.partition.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(
                files.iter().map(|f| f.records),
            )),
            Arc::new(Int64Array::from_iter_values(files.iter().map(|f| f.size))),
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| f.lower.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| f.upper.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| f.nulls.as_str()),
            )),
        ],
    )
}

async fn partitions(table: &Table) -> Result<RecordBatch, Error> {
    // (partition, spec) → (rows, files, bytes), data files only.
    let mut groups: BTreeMap<(String, i32), (i64, i64, i64)> = BTreeMap::new();
    for file in live_files(table).await? {
        if file.content != "data" {
            continue;
        }
        let group = groups.entry((file.partition, file.spec_id)).or_default();
        group.0 += file.records;
        group.1 += 1;
        group.2 += file.size;
    }
    batch(
        vec![
            Field::new("partition", DataType::Utf8, false),
            Field::new("spec_id", DataType::Int32, false),
            Field::new("record_count", DataType::Int64, false),
            Field::new("file_count", DataType::Int64, false),
            Field::new("total_size", DataType::Int64, false),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(
                groups.keys().map(|(p, _)| p.as_str()),
            )),
            Arc::new(Int32Array::from_iter_values(groups.keys().map(|(_, s)| *s))),
            Arc::new(Int64Array::from_iter_values(groups.values().map(|g| g.0))),
            Arc::new(Int64Array::from_iter_values(groups.values().map(|g| g.1))),
            Arc::new(Int64Array::from_iter_values(groups.values().map(|g| g.2))),
        ],
    )
}

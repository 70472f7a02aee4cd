//! Iceberg tables read by DataFusion's own Parquet scan: Iceberg plans the files (the
//! pinned snapshot, its manifests, partition and column-bound pruning), DataFusion reads
//! them — files split into byte ranges across the target partitions, row groups and
//! pages pruned from their statistics, projection, the footers cached. The Iceberg
//! scan of iceberg-datafusion read each file as one stream: a table of one file ran on
//! one core.
//!
//! DataFusion matches a file's columns to the table's by name, which is Iceberg's
//! meaning only while no field was ever renamed, nor a name reused for a new field;
//! and it knows nothing of delete files. Tables with either, and files outside the
//! local file system, keep Iceberg's own reader (`None` here).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Statistics, stats::Precision};
use datafusion::config::TableParquetOptions;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::conjunction;
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;
use iceberg::expr::Predicate;
use iceberg::spec::DataFileFormat;
use iceberg::table::Table;
use object_store::ObjectMeta;
use object_store::path::Path;

use super::manifest_stats::file_statistics;
use super::snapshot_files;
use crate::metering::ScanMeter;

/// Whether a session's Iceberg scans are DataFusion's Parquet scans (a session config
/// extension, set by the planner from `[query] native_iceberg_scan`, on by default).
/// Absent or false: Iceberg's own reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeIcebergScan(pub bool);

/// What a native scan read, for its estimate (estimate.rs): carried by each of its
/// files (`PartitionedFile::extensions`, which DataFusion's Parquet scan ignores and
/// keeps when it splits files into ranges).
#[derive(Debug)]
pub(crate) struct IcebergScanInfo {
    pub(crate) table: Table,
    pub(crate) snapshot_id: Option<i64>,
    /// The projected columns' names.
    pub(crate) projection: Vec<String>,
    /// The predicate that pruned files.
    pub(crate) predicate: Option<Predicate>,
}

/// The table and snapshot `plan` reads, if it is DataFusion's scan of an Iceberg
/// table's files (for the results cache's key).
pub fn native_scan_snapshot(plan: &dyn ExecutionPlan) -> Option<(String, Option<i64>)> {
    let exec = plan.as_any().downcast_ref::<DataSourceExec>()?;
    let config = exec
        .data_source()
        .as_any()
        .downcast_ref::<FileScanConfig>()?;
    let info = config
        .file_groups
        .iter()
        .flat_map(|g| g.iter())
        .find_map(|f| f.extensions.as_ref()?.downcast_ref::<IcebergScanInfo>())?;
    Some((info.table.identifier().to_string(), info.snapshot_id))
}

/// What DataFusion asks of a table scan.
pub(super) struct ScanRequest<'a> {
    pub(super) projection: Option<&'a Vec<usize>>,
    /// All the query's filters on the table: they prune row groups and pages, and are
    /// evaluated again above the scan.
    pub(super) filters: &'a [Expr],
    /// The filters Iceberg evaluates exactly, which prune files.
    pub(super) exact: &'a [Expr],
    pub(super) limit: Option<usize>,
    /// The query's meter: a native scan counts the metadata it is planned over here
    /// (its data reads are counted where they are read).
    pub(super) meter: Option<&'a ScanMeter>,
}

/// The scan of `table` (at `snapshot_id`, or its current snapshot; `schema` its Arrow
/// schema) as a DataFusion Parquet scan, or `None` where only Iceberg's reader reads it
/// right.
pub(super) async fn native_scan(
    table: &Table,
    snapshot_id: Option<i64>,
    schema: &SchemaRef,
    state: &dyn Session,
    request: ScanRequest<'_>,
) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
    let ScanRequest {
        projection,
        filters,
        exact,
        limit,
        meter,
    } = request;
    if !names_always_meant_one_field(table) {
        return Ok(None);
    }
    let external = |e: iceberg::Error| DataFusionError::External(Box::new(e));
    let metadata = table.metadata();
    let snapshot = match snapshot_id {
        Some(id) => metadata.snapshot_by_id(id),
        None => metadata.current_snapshot(),
    };
    // The snapshot's parsed listing (cached): its delete files, and the statistics of
    // its data files.
    let listed = match snapshot {
        Some(snapshot) => Some(snapshot_files(table, snapshot).await.map_err(external)?),
        None => None,
    };
    if listed.as_ref().is_some_and(|l| l.has_deletes) {
        return Ok(None);
    }
    let mut builder = table.scan();
    if let Some(id) = snapshot_id {
        builder = builder.snapshot_id(id);
    }
    let predicate = iceberg_datafusion::physical_plan::convert_filters_to_predicate(
        &super::scan_filters::iceberg_literals(exact),
    );
    if let Some(predicate) = &predicate {
        builder = builder.with_filter(predicate.clone());
    }
    let projected = match projection {
        Some(indices) => indices
            .iter()
            .map(|i| schema.field(*i).name().clone())
            .collect(),
        None => schema.fields().iter().map(|f| f.name().clone()).collect(),
    };
    let info = Arc::new(IcebergScanInfo {
        table: table.clone(),
        snapshot_id: snapshot_id.or_else(|| table.metadata().current_snapshot_id()),
        projection: projected,
        predicate,
    });
    let tasks: Vec<_> = builder
        .build()
        .map_err(external)?
        .plan_files()
        .await
        .map_err(external)?
        .try_collect()
        .await
        .map_err(external)?;
    let paths: HashSet<&str> = tasks.iter().map(|t| t.data_file_path.as_str()).collect();
    // Names meant one field in every schema of the table (checked above): the current
    // schema gives each column its field id.
    let iceberg_schema = metadata.current_schema();
    let field_ids: Vec<Option<i32>> = schema
        .fields()
        .iter()
        .map(|f| iceberg_schema.field_by_name(f.name()).map(|field| field.id))
        .collect();
    let mut statistics_of = listed
        .as_deref()
        .map(|listed| file_statistics(listed, schema, &field_ids, &paths))
        .unwrap_or_default();
    let mut files = Vec::with_capacity(tasks.len());
    let mut rows = Some(0usize);
    let mut bytes = 0usize;
    for task in &tasks {
        if !task.deletes.is_empty() || task.data_file_format != DataFileFormat::Parquet {
            return Ok(None);
        }
        let Some(location) = local_path(&task.data_file_path) else {
            return Ok(None);
        };
        // Iceberg's task covers the whole file; DataFusion splits it into byte ranges.
        // Data files never change, so one fixed time serves (the footer cache checks
        // it); a real date, which datafusion-proto can encode for distributed workers.
        let mut file = PartitionedFile::new_from_meta(ObjectMeta {
            location,
            last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            size: task.file_size_in_bytes,
            e_tag: None,
            version: None,
        })
        .with_extensions(info.clone());
        file.statistics = statistics_of.remove(task.data_file_path.as_str());
        files.push(file);
        rows = rows.zip(task.record_count).map(|(a, b)| a + b as usize);
        bytes += task.file_size_in_bytes as usize;
    }
    let options = TableParquetOptions {
        global: state.config().options().execution.parquet.clone(),
        ..TableParquetOptions::default()
    };
    let mut source = ParquetSource::new(schema.clone()).with_table_parquet_options(options);
    // Pruning only: every filter is evaluated again above the scan, so one that cannot
    // be planned here just prunes nothing.
    // Iceberg's exact forms (a date bound for a date compared with a timestamp) prune
    // row groups too.
    let pruning = exact
        .iter()
        .filter(|e| !filters.contains(e))
        .chain(filters)
        .cloned();
    if let Some(predicate) = conjunction(pruning) {
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        match state.create_physical_expr(predicate, &df_schema) {
            Ok(predicate) => source = source.with_predicate(predicate),
            Err(error) => tracing::debug!(%error, "no pruning predicate for an Iceberg scan"),
        }
    }
    // From the manifests: row counts exact (no file has deletes), bounds, null counts
    // and sizes inexact (manifest_stats.rs). A file the manifests did not describe
    // leaves the columns unknown.
    let statistics = match files
        .iter()
        .map(|f| f.statistics.as_deref())
        .collect::<Option<Vec<_>>>()
    {
        Some(each) if !each.is_empty() => Statistics::try_merge_iter(each, schema)?,
        _ => {
            let mut statistics = Statistics::new_unknown(schema);
            statistics.num_rows = rows.map_or(Precision::Absent, Precision::Exact);
            statistics.total_byte_size = Precision::Inexact(bytes);
            statistics
        }
    };
    let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
        .with_file_group(FileGroup::new(files))
        .with_statistics(statistics)
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .build();
    if let (Some(meter), Some(listed)) = (meter, &listed) {
        meter.add_metadata_bytes(listed.metadata_bytes);
    }
    Ok(Some(DataSourceExec::from_data_source(config)))
}

/// Whether every field id of the table's schemas has kept one name, and every name one
/// field id: then matching columns by name is matching them by id.
fn names_always_meant_one_field(table: &Table) -> bool {
    let mut names: HashMap<i32, &str> = HashMap::new();
    let mut ids: HashMap<&str, i32> = HashMap::new();
    for schema in table.metadata().schemas_iter() {
        for (id, name) in schema.field_id_to_name_map() {
            if *names.entry(*id).or_insert(name) != name.as_str()
                || *ids.entry(name.as_str()).or_insert(*id) != *id
            {
                return false;
            }
        }
    }
    true
}

/// The object-store path of a data file on the local file system.
fn local_path(location: &str) -> Option<Path> {
    if let Some(rest) = location.strip_prefix("file://") {
        let url = url::Url::parse(&format!("file://{rest}")).ok()?;
        return Path::from_url_path(url.path()).ok();
    }
    location.starts_with('/').then(|| Path::from(location))
}

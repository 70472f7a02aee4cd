//! What a physical plan's table scans are expected to read, before any data file is
//! opened: the data files Iceberg's scan planning keeps after pruning (partition values
//! and column bounds in the manifests, against the scan's pushed-down predicate), and
//! for each file the sizes its manifest entry records for the projected columns' chunks,
//! plus the file's footer. Only manifests are read.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;
use iceberg::scan::FileScanTask;
use iceberg::spec::{DataContentType, ManifestContentType};
use iceberg_datafusion::physical_plan::IcebergTableScan;

/// The estimate of one table scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableEstimate {
    /// `schema.table`.
    pub table: String,
    /// Data files the scan will open.
    pub files: u64,
    /// Data files of the snapshot that pruning leaves unopened.
    pub files_pruned: u64,
    /// Bytes of the projected columns' chunks in those files, plus their footers.
    pub bytes: u64,
    /// Rows in those files.
    pub rows: u64,
}

/// The estimate of a plan: one entry per table scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanEstimate {
    /// Per scan, in plan order.
    pub tables: Vec<TableEstimate>,
}

impl ScanEstimate {
    /// Bytes to read, over all scans.
    pub fn bytes(&self) -> u64 {
        self.tables.iter().map(|t| t.bytes).sum()
    }

    /// Data files to open, over all scans.
    pub fn files(&self) -> u64 {
        self.tables.iter().map(|t| t.files).sum()
    }

    /// Data files pruning skips, over all scans.
    pub fn files_pruned(&self) -> u64 {
        self.tables.iter().map(|t| t.files_pruned).sum()
    }

    /// Rows in the files to read, over all scans.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Estimates every Iceberg scan of `plan`.
pub async fn estimate_plan(plan: &Arc<dyn ExecutionPlan>) -> DFResult<ScanEstimate> {
    let mut scans = Vec::new();
    collect_scans(plan, &mut scans);
    let mut tables = Vec::with_capacity(scans.len());
    for scan in scans {
        tables.push(
            estimate_scan(scan)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
        );
    }
    Ok(ScanEstimate { tables })
}

fn collect_scans<'a>(plan: &'a Arc<dyn ExecutionPlan>, out: &mut Vec<&'a IcebergTableScan>) {
    if let Some(scan) = plan.as_any().downcast_ref::<IcebergTableScan>() {
        out.push(scan);
    }
    for child in plan.children() {
        collect_scans(child, out);
    }
}

/// What the manifests say about one data file.
struct FileSizes {
    file: u64,
    columns: HashMap<i32, u64>,
}

async fn estimate_scan(scan: &IcebergTableScan) -> iceberg::Result<TableEstimate> {
    let table = scan.table();
    let metadata = table.metadata();
    let mut estimate = TableEstimate {
        table: table.identifier().to_string(),
        ..TableEstimate::default()
    };
    let snapshot = match scan.snapshot_id() {
        Some(id) => metadata.snapshot_by_id(id),
        None => metadata.current_snapshot(),
    };
    let Some(snapshot) = snapshot.cloned() else {
        // A table without a snapshot has no data.
        return Ok(estimate);
    };
    // Every live data file of the snapshot, with its column chunk sizes.
    let mut files: HashMap<String, FileSizes> = HashMap::new();
    let manifests = table.manifest_list_reader(&snapshot).load().await?;
    for manifest in manifests.entries() {
        if manifest.content != ManifestContentType::Data {
            continue;
        }
        for entry in manifest.load_manifest(table.file_io()).await?.entries() {
            let file = entry.data_file();
            if entry.is_alive() && file.content_type() == DataContentType::Data {
                files.insert(
                    file.file_path().to_string(),
                    FileSizes {
                        file: file.file_size_in_bytes(),
                        columns: file.column_sizes().clone(),
                    },
                );
            }
        }
    }
    // The files the scan keeps, pruned as the scan itself will prune them.
    let mut builder = table.scan().snapshot_id(snapshot.snapshot_id());
    builder = match scan.projection() {
        Some(columns) => builder.select(columns.iter().cloned()),
        None => builder.select_all(),
    };
    if let Some(predicate) = scan.predicates() {
        builder = builder.with_filter(predicate.clone());
    }
    let tasks: Vec<FileScanTask> = builder.build()?.plan_files().await?.try_collect().await?;
    let mut opened = std::collections::HashSet::new();
    for task in &tasks {
        estimate.rows += task.record_count.unwrap_or(0);
        if !opened.insert(task.data_file_path.clone()) {
            continue;
        }
        estimate.bytes += match files.get(&task.data_file_path) {
            Some(sizes) if !sizes.columns.is_empty() => {
                let chunks: u64 = sizes.columns.values().sum();
                let footer = sizes.file.saturating_sub(chunks);
                let projected: u64 = task
                    .project_field_ids
                    .iter()
                    .filter_map(|id| sizes.columns.get(id))
                    .sum();
                projected + footer
            }
            // No column sizes recorded: the whole file.
            Some(sizes) => sizes.file,
            None => task.file_size_in_bytes,
        };
    }
    estimate.files = opened.len() as u64;
    estimate.files_pruned = (files.len() as u64).saturating_sub(estimate.files);
    Ok(estimate)
}

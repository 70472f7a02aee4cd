//! What a physical plan's table scans are expected to read, before any data file is
//! opened: the data files Iceberg's scan planning keeps after pruning (partition values
//! and column bounds in the manifests, against the scan's pushed-down predicate), and
//! for each file the sizes its manifest entry records for the projected columns' chunks,
//! plus the file's footer. Only manifests are read. Scans of files and Delta tables are
//! estimated at the sizes of the files they list (Delta's after its file skipping).
//!
//! The model follows iceberg's Parquet reader: it reads the last
//! [`FOOTER_PREFETCH_BYTES`] of a file to find the footer (so a smaller file is read
//! whole), then the projected column chunks, fetching chunks less than
//! [`RANGE_COALESCE_BYTES`] apart as one range with the gap between them; a range inside
//! the prefetched tail is not read again (metering.rs keeps the first read). Manifests
//! record chunk sizes but not offsets: the chunks are laid out in column order, as one
//! row group, from the start of the file. An Iceberg table read by DataFusion's Parquet
//! scan (iceberg/native_scan.rs) reads its footer and the projected chunks as they are.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;
use iceberg::expr::Predicate;
use iceberg::scan::FileScanTask;
use iceberg::table::Table;
use iceberg_datafusion::physical_plan::IcebergTableScan;

use crate::iceberg::{IcebergScanInfo, snapshot_files};

/// The tail of each data file iceberg's Parquet reader fetches to find the footer (its
/// `metadata_size_hint` default, which is DataFusion's too).
pub const FOOTER_PREFETCH_BYTES: u64 = 512 * 1024;

/// Chunks closer than this are fetched as one range, gap included (iceberg's
/// `range_coalesce_bytes` default).
pub const RANGE_COALESCE_BYTES: u64 = 1024 * 1024;

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

/// Estimates every Iceberg scan and file scan of `plan`.
pub async fn estimate_plan(plan: &Arc<dyn ExecutionPlan>) -> DFResult<ScanEstimate> {
    let mut scans = Vec::new();
    collect_scans(plan, &mut scans);
    let mut tables = Vec::with_capacity(scans.len());
    for scan in scans {
        tables.push(match scan {
            Scan::Iceberg(scan) => estimate_iceberg(
                scan.table(),
                scan.snapshot_id(),
                scan.projection(),
                scan.predicates(),
                file_read_bytes,
            )
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?,
            Scan::IcebergFiles(scan) => estimate_iceberg(
                &scan.table,
                scan.snapshot_id,
                Some(&scan.projection),
                scan.predicate.as_ref(),
                native_read_bytes,
            )
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?,
            Scan::Files(config) => estimate_file_scan(config),
        });
    }
    Ok(ScanEstimate { tables })
}

/// A table scan the estimate knows.
enum Scan<'a> {
    Iceberg(&'a IcebergTableScan),
    /// DataFusion's scan of the files Iceberg planned (iceberg/native_scan.rs).
    IcebergFiles(&'a IcebergScanInfo),
    /// DataFusion's scan of a list of files: files catalogs, and Delta tables (whose
    /// provider has already skipped files by the log's statistics when it planned).
    Files(&'a FileScanConfig),
}

fn collect_scans<'a>(plan: &'a Arc<dyn ExecutionPlan>, out: &mut Vec<Scan<'a>>) {
    if let Some(scan) = plan.as_any().downcast_ref::<IcebergTableScan>() {
        out.push(Scan::Iceberg(scan));
    }
    if let Some(exec) = plan.as_any().downcast_ref::<DataSourceExec>()
        && let Some(config) = exec.data_source().as_any().downcast_ref::<FileScanConfig>()
    {
        let iceberg = config
            .file_groups
            .iter()
            .flat_map(|g| g.iter())
            .find_map(|f| f.extensions.as_ref()?.downcast_ref::<IcebergScanInfo>());
        out.push(match iceberg {
            Some(scan) => Scan::IcebergFiles(scan),
            None => Scan::Files(config),
        });
    }
    for child in plan.children() {
        collect_scans(child, out);
    }
}

/// A file scan reads at most its files: their sizes are the estimate (an upper bound:
/// without recorded chunk sizes, a Parquet file's projection and row-group pruning
/// cannot be foreseen), and their rows where the files' statistics know them.
fn estimate_file_scan(config: &FileScanConfig) -> TableEstimate {
    let files: Vec<_> = config.file_groups.iter().flat_map(|g| g.iter()).collect();
    let table = files
        .first()
        .and_then(|f| {
            let path = f.object_meta.location.as_ref();
            path.rsplit_once('/').map(|(dir, _)| dir.to_string())
        })
        .unwrap_or_default();
    TableEstimate {
        table: format!("{}{table}", config.object_store_url.as_str()),
        files: files.len() as u64,
        files_pruned: 0,
        bytes: files.iter().map(|f| f.object_meta.size).sum(),
        rows: files
            .iter()
            .filter_map(|f| f.statistics.as_ref()?.num_rows.get_value().copied())
            .map(|rows| rows as u64)
            .sum(),
    }
}

/// The bytes the reader fetches from one file for the projected columns.
fn file_read_bytes(sizes: &FileSizes, projected: &[i32]) -> u64 {
    if sizes.columns.is_empty() {
        // No column sizes recorded: the whole file.
        return sizes.file;
    }
    let tail = sizes.file.min(FOOTER_PREFETCH_BYTES);
    let tail_start = sizes.file - tail;
    // Chunks in column order after the 4-byte magic.
    let mut ids: Vec<i32> = sizes.columns.keys().copied().collect();
    ids.sort_unstable();
    let mut offset = 4;
    let mut wanted = Vec::new();
    for id in ids {
        let size = sizes.columns[&id];
        if projected.contains(&id) {
            wanted.push((offset, offset + size));
        }
        offset += size;
    }
    // Fetched ranges: wanted chunks merged across small gaps; one inside the tail is
    // served from the kept prefetch.
    let mut read = 0;
    let mut current: Option<(u64, u64)> = None;
    for (start, end) in wanted {
        current = match current {
            Some((s, e)) if start.saturating_sub(e) <= RANGE_COALESCE_BYTES => {
                Some((s, end.max(e)))
            }
            Some(range) => {
                read += fetched(range, tail_start);
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some(range) = current {
        read += fetched(range, tail_start);
    }
    tail + read
}

/// The bytes DataFusion's Parquet scan reads from one file: its footer (what the file
/// holds besides its column chunks) and the projected columns' chunks, each read as
/// requested.
fn native_read_bytes(sizes: &FileSizes, projected: &[i32]) -> u64 {
    if sizes.columns.is_empty() {
        return sizes.file;
    }
    let chunks: u64 = sizes.columns.values().sum();
    let wanted: u64 = sizes
        .columns
        .iter()
        .filter(|(id, _)| projected.contains(id))
        .map(|(_, size)| size)
        .sum();
    sizes.file.saturating_sub(chunks) + wanted
}

/// Bytes read from storage for one fetched range: none when the tail holds it.
fn fetched((start, end): (u64, u64), tail_start: u64) -> u64 {
    if start >= tail_start { 0 } else { end - start }
}

/// What the manifests say about one data file.
struct FileSizes {
    file: u64,
    columns: HashMap<i32, u64>,
}

/// What an Iceberg table's scan reads: the files it keeps after pruning, and of each
/// the projected columns' chunks (from the manifests' column sizes).
async fn estimate_iceberg(
    table: &Table,
    snapshot_id: Option<i64>,
    projection: Option<&[String]>,
    predicate: Option<&Predicate>,
    read_bytes: fn(&FileSizes, &[i32]) -> u64,
) -> iceberg::Result<TableEstimate> {
    let metadata = table.metadata();
    let mut estimate = TableEstimate {
        table: table.identifier().to_string(),
        ..TableEstimate::default()
    };
    let snapshot = match snapshot_id {
        Some(id) => metadata.snapshot_by_id(id),
        None => metadata.current_snapshot(),
    };
    let Some(snapshot) = snapshot.cloned() else {
        // A table without a snapshot has no data.
        return Ok(estimate);
    };
    // Every live data file of the snapshot, with its column chunk sizes.
    let files: HashMap<String, FileSizes> = snapshot_files(table, &snapshot)
        .await?
        .files
        .iter()
        .map(|file| {
            let sizes = FileSizes {
                file: file.file_size_in_bytes(),
                columns: file.column_sizes().clone(),
            };
            (file.file_path().to_string(), sizes)
        })
        .collect();
    // The files the scan keeps, pruned as the scan itself will prune them.
    let mut builder = table.scan().snapshot_id(snapshot.snapshot_id());
    builder = match projection {
        Some(columns) => builder.select(columns.iter().cloned()),
        None => builder.select_all(),
    };
    if let Some(predicate) = predicate {
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
            Some(sizes) => read_bytes(sizes, &task.project_field_ids),
            None => task.file_size_in_bytes,
        };
    }
    estimate.files = opened.len() as u64;
    estimate.files_pruned = (files.len() as u64).saturating_sub(estimate.files);
    Ok(estimate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(file: u64, columns: &[(i32, u64)]) -> FileSizes {
        FileSizes {
            file,
            columns: columns.iter().copied().collect(),
        }
    }

    #[test]
    fn small_files_are_read_whole_and_large_ones_by_tail_and_chunks() {
        let small = sizes(300_000, &[(1, 100_000), (2, 150_000)]);
        assert_eq!(file_read_bytes(&small, &[1]), 300_000);
        // Column 1 at 4.., column 2 after it, the footer in the last 97 152 bytes.
        let large = sizes(2_100_000, &[(1, 1_000_000), (2, 1_000_000)]);
        let tail_start = 2_100_000 - FOOTER_PREFETCH_BYTES;
        assert_eq!(
            file_read_bytes(&large, &[1]),
            FOOTER_PREFETCH_BYTES + 1_000_000
        );
        // Column 2 starts before the tail: its whole range is fetched.
        assert!(1_000_004 < tail_start);
        assert_eq!(
            file_read_bytes(&large, &[2]),
            FOOTER_PREFETCH_BYTES + 1_000_000
        );
        assert_eq!(file_read_bytes(&large, &[]), FOOTER_PREFETCH_BYTES);
        assert_eq!(file_read_bytes(&sizes(10, &[]), &[1]), 10);
    }

    #[test]
    fn chunks_close_together_are_fetched_with_the_gap_between_them() {
        let mb = 1024 * 1024;
        let file = sizes(
            20 * mb,
            &[
                (1, 2 * mb),
                (2, mb / 2),
                (3, 2 * mb),
                (4, 4 * mb),
                (5, 2 * mb),
            ],
        );
        // 1 and 3 are half a MiB apart: one fetch with column 2 inside it.
        assert_eq!(
            file_read_bytes(&file, &[1, 3]),
            FOOTER_PREFETCH_BYTES + 4 * mb + mb / 2
        );
        // 1 and 5 are 6.5 MiB apart: two fetches.
        assert_eq!(
            file_read_bytes(&file, &[1, 5]),
            FOOTER_PREFETCH_BYTES + 4 * mb
        );
    }
}

//! Everything measured about one query, priced: its history columns and audit cost.

/// Everything measured about one query, priced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryFigures {
    /// Bytes read from data files.
    pub bytes_scanned: u64,
    /// Bytes read from table metadata (manifests).
    pub metadata_bytes: u64,
    /// Data files opened.
    pub files_scanned: u64,
    /// Data files of the scanned snapshots that were not opened: pruned by partition
    /// or column statistics, or not needed once a LIMIT was reached.
    pub files_pruned: u64,
    /// Parquet row groups whose column chunks were read.
    pub row_groups_scanned: u64,
    /// Row groups of the opened files that were not read (pruned by their statistics).
    pub row_groups_pruned: u64,
    /// Reads issued to storage.
    pub read_requests: u64,
    /// Rows the table scans produced.
    pub rows_scanned: u64,
    /// Rows sent to the client.
    pub rows_returned: u64,
    /// Arrow bytes of the rows sent to the client.
    pub bytes_returned: u64,
    /// CPU time of the query's operators.
    pub cpu_ms: f64,
    /// Time from the start of planning to the end of the result.
    pub wall_ms: f64,
    /// Time spent waiting for an execution slot.
    pub queue_ms: f64,
    /// Peak memory reserved by the query's operators.
    pub peak_memory_bytes: u64,
    /// Bytes the query's operators wrote to spill files (sorts and aggregations past
    /// the memory limit).
    pub spilled_bytes: u64,
    /// Spill files the query's operators wrote.
    pub spill_files: u64,
    /// Cost in the price list's unit.
    pub cost: f64,
}

impl From<QueryFigures> for lakegate_security::audit::AuditCost {
    fn from(f: QueryFigures) -> Self {
        Self {
            bytes_scanned: f.bytes_scanned,
            metadata_bytes: f.metadata_bytes,
            files_scanned: f.files_scanned,
            files_pruned: f.files_pruned,
            row_groups_scanned: f.row_groups_scanned,
            row_groups_pruned: f.row_groups_pruned,
            read_requests: f.read_requests,
            rows_scanned: f.rows_scanned,
            bytes_returned: f.bytes_returned,
            cpu_ms: f.cpu_ms,
            queue_ms: f.queue_ms,
            peak_memory_bytes: f.peak_memory_bytes,
            spilled_bytes: f.spilled_bytes,
            spill_files: f.spill_files,
            cost: f.cost,
        }
    }
}

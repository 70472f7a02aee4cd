//! Query history, kept durably as an Apache Iceberg table: `history.queries` in the
//! gateway's own embedded catalog under `<data_dir>/system/`, separate from the
//! catalogs users read. Completed queries are buffered and committed in batches (every
//! `flush_rows` records or `flush_seconds`, and at shutdown), so the table grows by one
//! Parquet file per batch rather than per query. `system.history.queries` reads the
//! committed table and the buffer together, so a query is listed as soon as it ends.
//!
//! Why Iceberg: the history is what FinOps reports aggregate over (cost per user, role,
//! table and day), so it is columnar and readable by any engine that reads the
//! warehouse; it survives restarts with the warehouse; and batched commits keep its file
//! count small. The audit trail (JSON lines, flushed per statement) keeps every record
//! too, including the few seconds a crash may leave unflushed here.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::SchemaRef;
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use iceberg::{NamespaceIdent, TableCreation, TableIdent};
use lakegate_catalog::iceberg::LakeCatalog;
use lakegate_catalog::seed::TableAppender;
use lakegate_catalog::{CatalogConfig, CatalogType};
use tokio::sync::Notify;

use crate::QueryFigures;

const NAMESPACE: &str = "history";
const TABLE: &str = "queries";
/// Columns added to the history table after its first release, in order, with their
/// types.
const ADDED_COLUMNS: [(&str, PrimitiveType); 6] = [
    ("files_pruned", PrimitiveType::Long),
    ("row_groups_scanned", PrimitiveType::Long),
    ("row_groups_pruned", PrimitiveType::Long),
    ("cache_hit", PrimitiveType::Boolean),
    ("spilled_bytes", PrimitiveType::Long),
    ("spill_files", PrimitiveType::Long),
];

/// One finished statement.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRecord {
    /// Unique across restarts (`20261127_011500_00042`).
    pub query_id: String,
    /// The session that ran it.
    pub session_id: u64,
    /// Login name.
    pub user: String,
    /// Roles at the time.
    pub roles: Vec<String>,
    /// `postgres` or `flight-sql`.
    pub protocol: String,
    /// The SQL text (absent when the audit trail hashes it).
    pub sql: Option<String>,
    /// `finished`, `failed`, `denied` or `abandoned`.
    pub status: String,
    /// The error, if any.
    pub error: Option<String>,
    /// When planning started.
    pub started_at: DateTime<Utc>,
    /// When the result ended.
    pub ended_at: DateTime<Utc>,
    /// Tables read (`catalog.schema.table`).
    pub tables: Vec<String>,
    /// Whether the result came from the results cache.
    pub cache_hit: bool,
    /// What it read, computed and cost.
    pub figures: QueryFigures,
}

/// How history is written.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConfig {
    /// Commit when this many records are buffered.
    pub flush_rows: usize,
    /// Commit buffered records at least this often.
    pub flush_interval: Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            flush_rows: 10_000,
            flush_interval: Duration::from_secs(10),
        }
    }
}

/// The durable query history.
#[derive(Debug)]
pub struct HistoryStore {
    lake: LakeCatalog,
    schema: SchemaRef,
    config: HistoryConfig,
    buffer: Mutex<Vec<HistoryRecord>>,
    /// Serializes commits (the periodic flush, a full buffer, shutdown).
    committing: tokio::sync::Mutex<()>,
    wake: Notify,
    /// The directory of the history's catalog.
    pub(crate) dir: std::path::PathBuf,
    /// This gateway's lease on the history (see history_recovery.rs), once claimed.
    pub(crate) lease: Mutex<Option<crate::history::lease::Lease>>,
}

impl HistoryStore {
    /// Opens (creating if needed) the history table under `dir`.
    pub async fn open(dir: &std::path::Path, config: HistoryConfig) -> crate::Result<Self> {
        let lake = LakeCatalog::open_sql(&catalog_config(dir))
            .await
            .map_err(internal)?;
        let iceberg = lake.iceberg();
        let namespace = NamespaceIdent::new(NAMESPACE.into());
        // Another gateway on the same data directory may be creating them too.
        if !iceberg
            .namespace_exists(&namespace)
            .await
            .map_err(internal)?
            && let Err(e) = iceberg
                .create_namespace(&namespace, Default::default())
                .await
            && !iceberg
                .namespace_exists(&namespace)
                .await
                .map_err(internal)?
        {
            return Err(internal(e));
        }
        let ident = TableIdent::new(namespace.clone(), TABLE.into());
        if !iceberg.table_exists(&ident).await.map_err(internal)?
            && let Err(e) = iceberg
                .create_table(
                    &namespace,
                    TableCreation::builder()
                        .name(TABLE.into())
                        .schema(iceberg_schema()?)
                        .build(),
                )
                .await
            && !iceberg.table_exists(&ident).await.map_err(internal)?
        {
            return Err(internal(e));
        }
        let mut table = lake
            .load_table(NAMESPACE, TABLE)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("the history table vanished after creation"))?;
        // A history written by an older gateway gains the columns added since.
        let current = table.metadata().current_schema().clone();
        let missing: Vec<(&str, PrimitiveType)> = ADDED_COLUMNS
            .iter()
            .filter(|(name, _)| current.field_by_name(name).is_none())
            .cloned()
            .collect();
        if !missing.is_empty() {
            let transaction = iceberg::transaction::Transaction::new(&table);
            let mut action = transaction.update_schema();
            for (name, kind) in &missing {
                action = action.add_column(iceberg::transaction::AddColumn::optional(
                    *name,
                    Type::Primitive(kind.clone()),
                ));
            }
            use iceberg::transaction::ApplyTransactionAction;
            table = action
                .apply(transaction)
                .map_err(internal)?
                .commit(iceberg.as_ref())
                .await
                .map_err(internal)?;
            tracing::info!(columns = ?missing, "query history: columns added");
        }
        let schema = Arc::new(
            iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema())
                .map_err(internal)?,
        );
        Ok(Self {
            lake,
            schema,
            config,
            buffer: Mutex::new(Vec::new()),
            committing: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            dir: dir.to_path_buf(),
            lease: Mutex::new(None),
        })
    }

    /// The Arrow schema of `system.history.queries`.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Adds a finished statement; it is committed with the next batch.
    pub fn record(&self, record: HistoryRecord) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        buffer.push(record);
        if buffer.len() >= self.config.flush_rows {
            self.wake.notify_one();
        }
    }

    /// The committed table and the records not committed yet, read between commits,
    /// so that every record is in exactly one of them.
    pub async fn snapshot(&self) -> crate::Result<(iceberg::table::Table, RecordBatch)> {
        let _commit = self.committing.lock().await;
        let table = self.table().await?;
        let buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        Ok((table, to_batch(&self.schema, &buffer)?))
    }

    /// The committed table, at its current snapshot.
    pub async fn table(&self) -> crate::Result<iceberg::table::Table> {
        self.lake
            .load_table(NAMESPACE, TABLE)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("the history table is missing"))
    }

    /// Commits the buffered records as one snapshot. On failure they stay buffered.
    pub async fn flush(&self) -> crate::Result<usize> {
        let _commit = self.committing.lock().await;
        let records: Vec<HistoryRecord> = {
            let buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
            buffer.clone()
        };
        if records.is_empty() {
            return Ok(0);
        }
        let table = self.table().await?;
        let mut appender = TableAppender::new(&table).await.map_err(internal)?;
        appender
            .write(to_batch(&appender.arrow_schema(), &records)?)
            .await
            .map_err(internal)?;
        appender
            .commit(self.lake.iceberg().as_ref())
            .await
            .map_err(internal)?;
        // Only now are they durable; records added meanwhile stay.
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        buffer.drain(..records.len());
        Ok(records.len())
    }

    /// Commits buffered records every `flush_interval`, or sooner when the buffer is
    /// full, until `shutdown`; then commits what is left.
    pub async fn run(&self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.config.flush_interval) => {}
                _ = self.wake.notified() => {}
            }
            if let Err(e) = self.flush().await {
                tracing::error!(error = %e.message, "query history not committed; kept for the next try");
            }
        }
        match self.flush().await {
            Ok(n) => {
                tracing::info!(records = n, "query history committed at shutdown");
                // Everything is committed: nothing of this gateway is left to recover.
                self.release();
            }
            Err(e) => tracing::error!(
                error = %e.message,
                "query history not committed at shutdown; the next start replays it from the audit trail"
            ),
        }
    }
}

impl HistoryStore {
    /// Takes the lease of gateway `instance` (its query ids start with `instance_`).
    pub fn claim(&self, instance: &str) -> crate::Result<()> {
        let lease = crate::history::lease::Lease::claim(&self.dir, instance)?;
        *self.lease.lock().unwrap_or_else(|e| e.into_inner()) = Some(lease);
        Ok(())
    }

    /// Gives the lease up once every record is committed.
    pub(crate) fn release(&self) {
        if let Some(lease) = self.lease.lock().unwrap_or_else(|e| e.into_inner()).take() {
            lease.release();
        }
    }
}

/// The gateway's own catalog under `dir`, which holds the history table.
fn catalog_config(dir: &std::path::Path) -> CatalogConfig {
    CatalogConfig {
        name: "system".into(),
        kind: CatalogType::IcebergSql,
        warehouse: dir.join("warehouse").display().to_string(),
        ..Default::default()
    }
}

fn internal(e: impl std::fmt::Display) -> crate::QueryError {
    crate::QueryError::new(crate::ErrorKind::Internal, format!("query history: {e}"))
}

fn iceberg_schema() -> crate::Result<Schema> {
    let string = |id, name: &str, required: bool| {
        let t = Type::Primitive(PrimitiveType::String);
        Arc::new(if required {
            NestedField::required(id, name, t)
        } else {
            NestedField::optional(id, name, t)
        })
    };
    let long = |id, name: &str| {
        Arc::new(NestedField::required(
            id,
            name,
            Type::Primitive(PrimitiveType::Long),
        ))
    };
    let double = |id, name: &str| {
        Arc::new(NestedField::required(
            id,
            name,
            Type::Primitive(PrimitiveType::Double),
        ))
    };
    // Columns added after the first release are optional: an older history table gains
    // them by schema evolution when the gateway opens it (see `ADDED_COLUMNS`).
    let added = |id, name: &str| {
        Arc::new(NestedField::optional(
            id,
            name,
            Type::Primitive(PrimitiveType::Long),
        ))
    };
    let time = |id, name: &str| {
        Arc::new(NestedField::required(
            id,
            name,
            Type::Primitive(PrimitiveType::Timestamptz),
        ))
    };
    Schema::builder()
        .with_fields(vec![
            string(1, "query_id", true),
            long(2, "session_id"),
            string(3, "user_name", true),
            string(4, "roles", false),
            string(5, "protocol", true),
            string(6, "query", false),
            string(7, "status", true),
            string(8, "error", false),
            time(9, "started_at"),
            time(10, "ended_at"),
            string(11, "tables", false),
            long(12, "bytes_scanned"),
            long(13, "metadata_bytes"),
            long(14, "files_scanned"),
            long(15, "read_requests"),
            long(16, "rows_scanned"),
            long(17, "rows_returned"),
            long(18, "bytes_returned"),
            double(19, "cpu_ms"),
            double(20, "wall_ms"),
            double(21, "queue_ms"),
            long(22, "peak_memory_bytes"),
            double(23, "cost"),
            added(24, "files_pruned"),
            added(25, "row_groups_scanned"),
            added(26, "row_groups_pruned"),
            Arc::new(NestedField::optional(
                27,
                "cache_hit",
                Type::Primitive(PrimitiveType::Boolean),
            )),
            added(28, "spilled_bytes"),
            added(29, "spill_files"),
        ])
        .build()
        .map_err(internal)
}

/// Records as a batch of `schema` (the table's Arrow schema, field ids included).
fn to_batch(schema: &SchemaRef, records: &[HistoryRecord]) -> crate::Result<RecordBatch> {
    let text = |f: &dyn Fn(&HistoryRecord) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(records.iter().map(f).collect::<Vec<_>>()))
    };
    let long = |f: &dyn Fn(&HistoryRecord) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            records
                .iter()
                .map(|r| i64::try_from(f(r)).unwrap_or(i64::MAX)),
        ))
    };
    let double = |f: &dyn Fn(&HistoryRecord) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(records.iter().map(f)))
    };
    let time = |f: &dyn Fn(&HistoryRecord) -> DateTime<Utc>| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                records.iter().map(|r| f(r).timestamp_micros()),
            )
            .with_timezone("+00:00"),
        )
    };
    let joined = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
    let columns = vec![
        text(&|r| Some(r.query_id.clone())),
        long(&|r| r.session_id),
        text(&|r| Some(r.user.clone())),
        text(&|r| joined(&r.roles)),
        text(&|r| Some(r.protocol.clone())),
        text(&|r| r.sql.clone()),
        text(&|r| Some(r.status.clone())),
        text(&|r| r.error.clone()),
        time(&|r| r.started_at),
        time(&|r| r.ended_at),
        text(&|r| joined(&r.tables)),
        long(&|r| r.figures.bytes_scanned),
        long(&|r| r.figures.metadata_bytes),
        long(&|r| r.figures.files_scanned),
        long(&|r| r.figures.read_requests),
        long(&|r| r.figures.rows_scanned),
        long(&|r| r.figures.rows_returned),
        long(&|r| r.figures.bytes_returned),
        double(&|r| r.figures.cpu_ms),
        double(&|r| r.figures.wall_ms),
        double(&|r| r.figures.queue_ms),
        long(&|r| r.figures.peak_memory_bytes),
        double(&|r| r.figures.cost),
        long(&|r| r.figures.files_pruned),
        long(&|r| r.figures.row_groups_scanned),
        long(&|r| r.figures.row_groups_pruned),
        Arc::new(BooleanArray::from_iter(
            records.iter().map(|r| Some(r.cache_hit)),
        )),
        long(&|r| r.figures.spilled_bytes),
        long(&|r| r.figures.spill_files),
    ];
    RecordBatch::try_new(schema.clone(), columns).map_err(internal)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

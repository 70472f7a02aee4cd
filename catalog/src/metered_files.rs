//! A table read from files through DataFusion's scans (a files catalog's listing table,
//! a Delta table) whose scans count what they read into the query's meter: bytes where
//! the Parquet data is read, rows above the scan, and the files of the version read.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::counting_store::count_parquet_reads;
use crate::metering::ScanMeter;
use crate::scan_counter::CountRowsExec;

/// `inner`, metered.
#[derive(Debug)]
pub(crate) struct MeteredFileTable {
    inner: Arc<dyn TableProvider>,
    /// Data files of the version read, when the source knows them (Delta's log).
    snapshot_files: Option<u64>,
    /// Whether INSERT goes through to `inner` (Delta appends a version); otherwise the
    /// table is read-only.
    writable: bool,
    /// The version read, when the source has versions (Delta): see data_version.rs.
    version: Option<String>,
}

impl MeteredFileTable {
    /// A read-only table.
    pub(crate) fn read_only(inner: Arc<dyn TableProvider>) -> Self {
        Self {
            inner,
            snapshot_files: None,
            writable: false,
            version: None,
        }
    }

    /// A table `inner` appends to, reading `version` (named as data_version.rs names
    /// versions), which has `snapshot_files` data files.
    pub(crate) fn versioned(
        inner: Arc<dyn TableProvider>,
        version: String,
        snapshot_files: u64,
    ) -> Self {
        Self {
            inner,
            snapshot_files: Some(snapshot_files),
            writable: true,
            version: Some(version),
        }
    }

    /// The version read, if the source has versions.
    pub(crate) fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

#[async_trait]
impl TableProvider for MeteredFileTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let scan = self.inner.scan(state, projection, filters, limit).await?;
        let Some(meter) = state.config().get_extension::<ScanMeter>() else {
            return Ok(scan);
        };
        if let Some(files) = self.snapshot_files {
            meter.add_snapshot_files(files);
        }
        // CSV and JSON scans read through the query's runtime, which counts already.
        let scan = count_parquet_reads(scan, state, &meter)?;
        Ok(Arc::new(CountRowsExec::new(scan, meter)))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        match self.writable {
            true => self.inner.insert_into(state, input, insert_op).await,
            false => Err(DataFusionError::NotImplemented(
                "INSERT into a files catalog's table (files are read-only)".into(),
            )),
        }
    }
}

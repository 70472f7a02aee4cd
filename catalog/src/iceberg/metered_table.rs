//! An Iceberg table pinned to one snapshot whose scans report to the query's
//! [`ScanMeter`]: storage reads through counting storage, rows as the scan produces them.

use std::any::Any;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::common::stats::Precision;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use iceberg::Catalog;
use iceberg::table::Table;
use iceberg_datafusion::IcebergStaticTableProvider;

use super::IcebergAppendExec;
use super::read_schema::{read_schema, without_scan_metadata};
use super::views::as_string_views;
use crate::WriteError;
use crate::counting_store::count_parquet_reads;
use crate::metering::{ScanMeter, metered_table};
use crate::scan_counter::CountRowsExec;

/// A table of the lakehouse, as one statement reads it.
#[derive(Debug)]
pub struct MeteredIcebergTable {
    table: Table,
    /// The snapshot read: `None` for the current one.
    snapshot_id: Option<i64>,
    /// The catalog to commit to: set for the current snapshot, which INSERT may append
    /// to; unset for an earlier snapshot, which is read-only.
    catalog: Option<Arc<dyn Catalog>>,
    provider: IcebergStaticTableProvider,
    /// The table's columns as statements see them: Iceberg's Arrow schema with its
    /// strings as string views and no field metadata (read_schema.rs).
    schema: SchemaRef,
    /// The table over counting storage for the statement's meter, made at the first
    /// scan and shared by the statement's other scans of this table, so that they share
    /// its manifest cache as the unmetered table's scans share the table's.
    metered: Mutex<Option<MeteredScanTable>>,
}

/// The table as one meter reads it.
#[derive(Debug)]
struct MeteredScanTable {
    meter: Arc<ScanMeter>,
    provider: Arc<IcebergStaticTableProvider>,
}

impl MeteredIcebergTable {
    /// The table at its current snapshot; INSERT appends through `catalog`.
    pub async fn try_new(table: Table, catalog: Arc<dyn Catalog>) -> DFResult<Self> {
        let provider = IcebergStaticTableProvider::try_new_from_table(table.clone())
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Self {
            table,
            snapshot_id: None,
            catalog: Some(catalog),
            schema: read_schema(&provider.schema()),
            provider,
            metered: Mutex::new(None),
        })
    }

    /// The table as it was at snapshot `snapshot_id`, read-only, with that snapshot's
    /// schema.
    pub async fn at_snapshot(table: Table, snapshot_id: i64) -> DFResult<Self> {
        let provider =
            IcebergStaticTableProvider::try_new_from_table_snapshot(table.clone(), snapshot_id)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Self {
            table,
            snapshot_id: Some(snapshot_id),
            catalog: None,
            schema: read_schema(&provider.schema()),
            provider,
            metered: Mutex::new(None),
        })
    }

    /// The snapshot this table reads, if not the current one.
    pub fn snapshot_id(&self) -> Option<i64> {
        self.snapshot_id
    }

    /// The Iceberg table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// A total the read snapshot's summary records (`total-records`, `total-data-files`).
    fn snapshot_total(&self, key: &str) -> Option<u64> {
        let metadata = self.table.metadata();
        let snapshot = match self.snapshot_id {
            Some(id) => metadata.snapshot_by_id(id),
            None => metadata.current_snapshot(),
        }?;
        snapshot
            .summary()
            .additional_properties
            .get(key)?
            .parse()
            .ok()
    }

    /// The table reading through storage that counts into `meter`: the one made for
    /// this meter before, or a new one (a plan executed again runs under a new meter).
    async fn metered_provider(
        &self,
        meter: &Arc<ScanMeter>,
    ) -> DFResult<Arc<IcebergStaticTableProvider>> {
        if let Some(made) = self
            .metered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && Arc::ptr_eq(&made.meter, meter)
        {
            return Ok(made.provider.clone());
        }
        let table = metered_table(&self.table, meter.clone())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let provider = match self.snapshot_id {
            Some(id) => IcebergStaticTableProvider::try_new_from_table_snapshot(table, id).await,
            None => IcebergStaticTableProvider::try_new_from_table(table).await,
        };
        let provider = Arc::new(provider.map_err(|e| DataFusionError::External(Box::new(e)))?);
        *self.metered.lock().unwrap_or_else(|e| e.into_inner()) = Some(MeteredScanTable {
            meter: meter.clone(),
            provider: provider.clone(),
        });
        Ok(provider)
    }
}

#[async_trait]
impl TableProvider for MeteredIcebergTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
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
        // Only the predicates Iceberg evaluates exactly; all of them stay above the scan.
        let exact = &super::scan_filters::scan_filters(filters, &self.schema());
        let meter = state.config().get_extension::<ScanMeter>();
        // The snapshot's data files: the ones the scan does not open are pruned.
        if let Some(meter) = &meter {
            meter.add_snapshot_files(self.snapshot_total("total-data-files").unwrap_or(0));
        }
        // DataFusion's Parquet scan over the files Iceberg plans, where it reads right.
        let native_enabled = state
            .config()
            .get_extension::<super::NativeIcebergScan>()
            .is_some_and(|n| n.0);
        let native = if !native_enabled {
            None
        } else {
            // Planned over the table as loaded, whose parsed manifests are kept from one
            // statement to the next; the metadata planned over is metered as if read.
            super::native_scan::native_scan(
                &self.table,
                self.snapshot_id,
                &self.schema(),
                state,
                super::native_scan::ScanRequest {
                    projection,
                    filters,
                    exact,
                    limit,
                    meter: meter.as_deref(),
                },
            )
            .await?
        };
        if let Some(scan) = native {
            return match meter {
                None => Ok(scan),
                Some(meter) => {
                    let scan = count_parquet_reads(scan, state, &meter)?;
                    Ok(Arc::new(CountRowsExec::new(scan, meter)))
                }
            };
        }
        // Iceberg's own reader: its strings become views, as the schema says.
        let filters = &super::scan_filters::iceberg_literals(exact);
        let Some(meter) = meter else {
            let scan = self
                .provider
                .scan(state, projection, filters, limit)
                .await?;
            return without_scan_metadata(as_string_views(scan)?);
        };
        let provider = self.metered_provider(&meter).await?;
        let scan = provider.scan(state, projection, filters, limit).await?;
        let scan = without_scan_metadata(as_string_views(scan)?)?;
        Ok(Arc::new(CountRowsExec::new(scan, meter)))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // Every filter is evaluated again above the scan, which may use a weaker form.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    /// The pinned snapshot's row count from its summary (before deletes, so inexact):
    /// what the planner's join rules weigh tables by (semi-join reduction, join order).
    fn statistics(&self) -> Option<Statistics> {
        let rows = self.snapshot_total("total-records")?;
        let rows = usize::try_from(rows).ok()?;
        Some(Statistics::new_unknown(&self.schema).with_num_rows(Precision::Inexact(rows)))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let name = self.table.identifier().to_string();
        let unsupported = |message: String| {
            DataFusionError::External(Box::new(WriteError::Unsupported { message }))
        };
        let Some(catalog) = &self.catalog else {
            return Err(unsupported(format!(
                "cannot write to {name} at an earlier snapshot: time travel is read-only"
            )));
        };
        if insert_op != InsertOp::Append {
            return Err(unsupported(format!(
                "{insert_op} is not supported on Iceberg table {name}; INSERT appends"
            )));
        }
        Ok(Arc::new(IcebergAppendExec::new(
            self.table.clone(),
            catalog.clone(),
            input,
        )))
    }
}

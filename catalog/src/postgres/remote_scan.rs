//! A PostgreSQL table read without pushdown: `SELECT <projected columns> FROM table`,
//! every row crossing to the gateway. Used when a catalog sets `pushdown = false`, and as
//! the fallback under the federated source.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::TableType;
use datafusion::error::Result as DFResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_federation::sql::SQLExecutor;

use super::PostgresExecutor;
use crate::metering::ScanMeter;
use crate::scan_counter::CountRowsExec;

/// An identifier quoted for PostgreSQL.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[derive(Debug)]
pub(super) struct RemoteScanTable {
    executor: Arc<PostgresExecutor>,
    table: TableReference,
    schema: SchemaRef,
}

impl RemoteScanTable {
    pub(super) fn new(
        executor: Arc<PostgresExecutor>,
        table: TableReference,
        schema: SchemaRef,
    ) -> Self {
        Self {
            executor,
            table,
            schema,
        }
    }
}

#[async_trait]
impl TableProvider for RemoteScanTable {
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
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(columns) => Arc::new(self.schema.project(columns)?),
            None => self.schema.clone(),
        };
        let columns: Vec<String> = schema.fields().iter().map(|f| quoted(f.name())).collect();
        let from = match self.table.schema() {
            Some(s) => format!("{}.{}", quoted(s), quoted(self.table.table())),
            None => quoted(self.table.table()),
        };
        // No column at all (count(*)): one constant per row.
        let select = if columns.is_empty() {
            "1".to_string()
        } else {
            columns.join(", ")
        };
        let exec: Arc<dyn ExecutionPlan> = Arc::new(RemoteScanExec::new(
            self.executor.clone(),
            format!("SELECT {select} FROM {from}"),
            schema,
        ));
        Ok(match state.config().get_extension::<ScanMeter>() {
            Some(meter) => Arc::new(CountRowsExec::new(exec, meter)),
            None => exec,
        })
    }
}

/// Runs one SQL query on the database.
struct RemoteScanExec {
    executor: Arc<PostgresExecutor>,
    sql: String,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for RemoteScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteScanExec")
            .field("sql", &self.sql)
            .finish()
    }
}

impl RemoteScanExec {
    fn new(executor: Arc<PostgresExecutor>, sql: String, schema: SchemaRef) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            executor,
            sql,
            schema,
            properties,
        }
    }
}

impl DisplayAs for RemoteScanExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RemoteScanExec: sql={}", self.sql)
    }
}

impl ExecutionPlan for RemoteScanExec {
    fn name(&self) -> &str {
        "RemoteScanExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        self.executor.execute(&self.sql, self.schema.clone(), &[])
    }
}

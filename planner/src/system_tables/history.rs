//! `system.history.queries`: the committed history table and the records not yet
//! committed, read as one table.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use iceberg_datafusion::IcebergStaticTableProvider;

use crate::history::store::HistoryStore;
use crate::{ErrorKind, QueryError};

/// The table behind `system.history.queries`.
#[derive(Debug)]
pub struct HistoryTable {
    store: Arc<HistoryStore>,
}

impl HistoryTable {
    /// The history of `store`, as a table.
    pub fn new(store: Arc<HistoryStore>) -> Self {
        Self { store }
    }
}

fn external(e: crate::QueryError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl TableProvider for HistoryTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.store.schema()
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
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The committed snapshot and the buffer, read between commits: every record is
        // in exactly one of them.
        let (table, buffered) = self.store.snapshot().await.map_err(external)?;
        let committed = IcebergStaticTableProvider::try_new_from_table(table)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .scan(state, projection, filters, limit)
            .await?;
        let memory = MemTable::try_new(self.schema(), vec![vec![buffered]])?
            .scan(state, projection, &[], limit)
            .await?;
        Ok(UnionExec::try_new(vec![committed, memory])?)
    }
}

/// The cost of this month's queries per user, roles and UTC day, committed and
/// buffered.
pub async fn spending_this_month(
    store: &Arc<HistoryStore>,
) -> crate::Result<Vec<(String, Vec<String>, chrono::DateTime<chrono::Utc>, f64)>> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Float64Type, TimestampMicrosecondType};
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_table("history", Arc::new(HistoryTable::new(store.clone())))
        .map_err(|e| QueryError::new(ErrorKind::Internal, format!("query history: {e}")))?;
    let now = chrono::Utc::now();
    let month = format!("{}-01T00:00:00Z", now.format("%Y-%m"));
    let batches = ctx
        .sql(&format!(
            "SELECT user_name, roles, date_trunc('day', ended_at) AS day, sum(cost) \
             FROM history WHERE ended_at >= TIMESTAMP '{month}' AND cost > 0 \
             GROUP BY 1, 2, 3"
        ))
        .await
        .map_err(|e| QueryError::new(ErrorKind::Internal, format!("query history: {e}")))?
        .collect()
        .await
        .map_err(|e| QueryError::new(ErrorKind::Internal, format!("query history: {e}")))?;
    let mut out = Vec::new();
    for batch in batches {
        let users = batch.column(0).as_string::<i32>();
        let roles = batch.column(1).as_string::<i32>();
        let days = batch.column(2).as_primitive::<TimestampMicrosecondType>();
        let costs = batch.column(3).as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            let roles = if roles.is_null(i) {
                Vec::new()
            } else {
                roles.value(i).split(',').map(str::to_string).collect()
            };
            let day = chrono::DateTime::from_timestamp_micros(days.value(i)).unwrap_or(now);
            out.push((users.value(i).to_string(), roles, day, costs.value(i)));
        }
    }
    Ok(out)
}

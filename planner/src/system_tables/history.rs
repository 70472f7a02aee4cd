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

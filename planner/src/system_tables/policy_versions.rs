//! `system.security.policy_versions`: every policy the gateway loaded since it started
//! (at start, on a file change, on a reload or a rollback through the admin endpoint),
//! read from the policy store; `POST /policy/rollback?version=N` restores one.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use lakegate_security::policy::PolicyStore;

/// The table behind `system.security.policy_versions`.
#[derive(Debug)]
pub struct PolicyVersionsTable {
    /// Weak: the store's validator holds the catalog registry, which holds this table;
    /// a strong reference would keep the whole gateway (and its history lease) alive.
    store: std::sync::Weak<PolicyStore>,
    schema: SchemaRef,
}

impl PolicyVersionsTable {
    /// The versions `store` has loaded, as a table.
    pub fn new(store: Arc<PolicyStore>) -> Self {
        let schema = Arc::new(Schema::new(vec![
            Field::new("version", DataType::Int64, false),
            Field::new("sha256", DataType::Utf8, false),
            Field::new(
                "loaded_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                false,
            ),
            Field::new("loaded_by", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("current", DataType::Boolean, false),
        ]));
        Self {
            store: Arc::downgrade(&store),
            schema,
        }
    }

    fn batch(&self) -> Result<RecordBatch> {
        let versions = self
            .store
            .upgrade()
            .map(|store| store.versions())
            .unwrap_or_default();
        let last = versions.last().map(|v| v.version);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                versions.iter().map(|v| v.version as i64),
            )),
            Arc::new(StringArray::from_iter_values(
                versions.iter().map(|v| v.sha256.as_str()),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    versions.iter().map(|v| v.loaded_at.timestamp_micros()),
                )
                .with_timezone("+00:00"),
            ),
            Arc::new(StringArray::from_iter_values(
                versions.iter().map(|v| v.loaded_by.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                versions.iter().map(|v| v.source.as_str()),
            )),
            Arc::new(BooleanArray::from_iter(
                versions.iter().map(|v| Some(Some(v.version) == last)),
            )),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[async_trait]
impl TableProvider for PolicyVersionsTable {
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
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        MemTable::try_new(self.schema.clone(), vec![vec![self.batch()?]])?
            .scan(state, projection, &[], limit)
            .await
    }
}

//! Test helpers of the planner's join rules: a table that knows its row count, as an
//! Iceberg snapshot does (what the rules weigh tables by), and a query's optimized plan
//! with its rows.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics};
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

/// An in-memory table that knows its row count, as an Iceberg snapshot does.
#[derive(Debug)]
pub(crate) struct Sized(pub(crate) MemTable, pub(crate) usize);

#[async_trait]
impl TableProvider for Sized {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn schema(&self) -> SchemaRef {
        self.0.schema()
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
        self.0.scan(state, projection, filters, limit).await
    }
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
    fn statistics(&self) -> Option<Statistics> {
        Some(Statistics::new_unknown(&self.schema()).with_num_rows(Precision::Inexact(self.1)))
    }
}

/// The optimized logical plan and the sorted rows of `sql`.
pub(crate) async fn run(ctx: &SessionContext, sql: &str) -> (String, String) {
    let frame = ctx.sql(sql).await.expect("plans");
    let plan = frame.clone().into_optimized_plan().expect("optimizes");
    let batches = frame.collect().await.expect("runs");
    let mut lines: Vec<String> = pretty_format_batches(&batches)
        .expect("prints")
        .to_string()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    (plan.display_indent().to_string(), lines.join("\n"))
}

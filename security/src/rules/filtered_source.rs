//! A governed scan whose row filter is part of its source: the table a row-filtered,
//! unmasked scan reads, which returns only the rows the filter lets through, behind
//! the policy barrier.
//!
//! A row filter written as `Filter` and `PolicyBarrier` nodes above the scan costs every
//! optimizer rule a copy of the secured subtree (DataFusion rebuilds an extension node's
//! inputs on each traversal), and two more physical nodes through every physical rule:
//! most of a governed statement's planning overhead. When the filter is plain (no
//! subquery left: a comparison, or a lookup evaluated into a list) and no column is
//! masked, the security rule gives the scan this source instead, and the optimizer sees
//! an ordinary `TableScan`. Its plan is what the nodes would have planned:
//! `PolicyBarrierExec(FilterExec(row filter, scan))`.
//!
//! The barrier's rule holds as before: a user's predicate never runs below the row
//! filter. This source accepts none of them for pushdown (they stay in a `Filter`
//! above the scan), except, in the `performance` statistics mode, those that cannot
//! fail, which it hands to the scan below for pruning only and DataFusion still
//! evaluates above (`Inexact`), as the barrier's safe pushdown does.

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Constraints, DFSchema, DFSchemaRef, Result, Statistics};
use datafusion::datasource::TableType;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExecBuilder;

use super::barrier::PolicyBarrierExec;
use super::safe_pushdown::is_safe;

/// A table as a row filter lets one principal read it.
#[derive(Debug)]
pub struct RowFilteredTable {
    inner: Arc<dyn TableProvider>,
    /// The row filter, type-checked, its columns unqualified (as scans receive filters).
    predicate: Expr,
    /// The table's columns qualified as the scan names them: what user predicates
    /// offered for pushdown are typed against.
    qualified: DFSchemaRef,
    /// Whether user predicates that cannot fail may prune the scan below the filter
    /// (the `performance` statistics mode).
    prune_by_user_predicates: bool,
}

impl RowFilteredTable {
    /// `inner` as `predicate` (type-checked, unqualified) lets it be read, scanned as
    /// `qualified` names its columns.
    pub fn new(
        inner: Arc<dyn TableProvider>,
        predicate: Expr,
        qualified: DFSchemaRef,
        prune_by_user_predicates: bool,
    ) -> Self {
        Self {
            inner,
            predicate,
            qualified,
            prune_by_user_predicates,
        }
    }

    /// The table below the filter.
    pub fn inner(&self) -> &Arc<dyn TableProvider> {
        &self.inner
    }

    /// The row filter: what distinguishes one principal's reading of the table from
    /// another's, which anything keyed by a plan must include (a `TableScan` hashes
    /// and compares without its source).
    pub fn predicate(&self) -> &Expr {
        &self.predicate
    }

    /// The row filter as this statement evaluates it: `now()` and the like fixed at
    /// the statement's start, casts moved off columns (so that the scan can prune).
    fn simplified(&self, state: &dyn Session, schema: &DFSchemaRef) -> Result<Expr> {
        let context = SimplifyContext::default()
            .with_schema(schema.clone())
            .with_config_options(state.config().options().clone())
            .with_query_execution_start_time(state.execution_props().query_execution_start_time);
        ExprSimplifier::new(context).simplify(self.predicate.clone())
    }
}

#[async_trait]
impl TableProvider for RowFilteredTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        None
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.inner.schema();
        let table = Arc::new(DFSchema::try_from(schema.as_ref().clone())?);
        let predicate = self.simplified(state, &table)?;

        // Read the projection, then the filter's other columns; return the projection.
        let projected = projection.map(Vec::len);
        let mut read: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..schema.fields().len()).collect(),
        };
        let mut filter_columns: Vec<usize> = predicate
            .column_refs()
            .into_iter()
            .map(|column| schema.index_of(&column.name))
            .collect::<std::result::Result<_, _>>()?;
        filter_columns.sort_unstable();
        for index in filter_columns {
            if !read.contains(&index) {
                read.push(index);
            }
        }

        // The scan below may prune by the row filter and, in the performance mode, by
        // the user's predicates that cannot fail (which DataFusion also evaluates above:
        // they are `Inexact`). None is relied on: the filter is applied here.
        let offered: Vec<&Expr> = split_conjunction(&predicate)
            .into_iter()
            .chain(filters.iter())
            .collect();
        let support = self.inner.supports_filters_pushdown(&offered)?;
        let pushed: Vec<Expr> = offered
            .into_iter()
            .zip(support)
            .filter(|(_, s)| *s != TableProviderFilterPushDown::Unsupported)
            .map(|(e, _)| e.clone())
            .collect();
        // No limit below the filter: it counts rows the filter has not yet dropped.
        let input = self.inner.scan(state, Some(&read), &pushed, None).await?;

        let input_schema = DFSchema::try_from(input.schema().as_ref().clone())?;
        let physical = state.create_physical_expr(predicate, &input_schema)?;
        // As DataFusion's planner builds a filter; a limit applies to the rows kept.
        let mut filter = FilterExecBuilder::new(physical, input)
            .with_batch_size(state.config().batch_size())
            .with_fetch(limit);
        if let Some(width) = projected.filter(|&width| width < read.len()) {
            filter = filter.apply_projection(Some((0..width).collect()))?;
        }
        let filter = Arc::new(filter.build()?);
        Ok(Arc::new(PolicyBarrierExec::new(filter)))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|filter| {
                if self.prune_by_user_predicates && is_safe(filter, &self.qualified, &[]) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    /// The table's row count, which counts hidden rows as a filter's plan node's
    /// input did (figures shown to the principal withhold it); no column figures.
    fn statistics(&self) -> Option<Statistics> {
        let rows = self.inner.statistics()?.num_rows;
        Some(Statistics::new_unknown(&self.inner.schema()).with_num_rows(rows))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::datasource::{MemTable, source_as_provider};
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::Principal;
    use crate::policy::StatisticsMode;
    use crate::test_session::secured_context;

    /// `lake.s.t` as `ann` reads it: rows of region EU only. The one hidden row with
    /// `n = 0` makes `10 / n` fail wherever it runs on hidden rows.
    async fn filtered(statistics: StatisticsMode) -> SessionContext {
        let policy = "g, ann, role:a\n\
            p, role:a, lake.s.*, select, allow\n\
            p2, role:a, lake.s.t, \"region = ${user.region}\"\n";
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(StringArray::from(vec!["EU", "US", "EU", "US"])),
                Arc::new(Int64Array::from(vec![5, 0, 20, 1])),
            ],
        )
        .expect("batch");
        let table = MemTable::try_new(schema, vec![vec![batch]]).expect("table");
        let principal = Principal {
            user: "ann".into(),
            roles: vec![],
            attributes: BTreeMap::from([("region".into(), "EU".into())]),
            identity_roles: vec![],
        };
        secured_context(policy, principal, "t", table, statistics).await
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> Result<String> {
        let batches = ctx.sql(sql).await?.collect().await?;
        Ok(pretty_format_batches(&batches)?.to_string())
    }

    #[tokio::test]
    async fn a_plain_row_filter_becomes_the_scans_source() {
        let ctx = filtered(StatisticsMode::Protected).await;
        let plan = ctx
            .state()
            .create_logical_plan("SELECT id FROM t")
            .await
            .expect("plan");
        let analyzed = ctx
            .state()
            .analyzer()
            .execute_and_check(plan, ctx.state().config_options(), |_, _| {})
            .expect("analyze");
        let text = analyzed.display_indent().to_string();
        assert_eq!(text, "Projection: t.id\n  TableScan: t", "{text}");
        let mut predicate = None;
        analyzed
            .apply(|node| {
                if let LogicalPlan::TableScan(scan) = node {
                    let provider = source_as_provider(&scan.source).expect("provider");
                    predicate = provider
                        .as_any()
                        .downcast_ref::<RowFilteredTable>()
                        .map(|f| f.predicate().to_string());
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .expect("walk");
        assert_eq!(predicate.as_deref(), Some("region = Utf8(\"EU\")"));

        // Its physical plan is what the barrier's nodes planned.
        let physical = ctx
            .sql("SELECT id FROM t")
            .await
            .expect("plan")
            .create_physical_plan()
            .await
            .expect("physical");
        let shown = displayable(physical.as_ref()).indent(false).to_string();
        let barrier = shown.find("PolicyBarrierExec").expect(&shown);
        let filter = shown.find("FilterExec: region@1 = EU").expect(&shown);
        assert!(barrier < filter, "{shown}");
    }

    #[tokio::test]
    async fn only_the_visible_rows_are_read_whatever_the_query() {
        let ctx = filtered(StatisticsMode::Protected).await;
        let ids = rows(&ctx, "SELECT id FROM t ORDER BY id")
            .await
            .expect("ids");
        assert_eq!(
            ids, "+----+\n| id |\n+----+\n| 1  |\n| 3  |\n+----+",
            "{ids}"
        );
        let count = rows(&ctx, "SELECT count(*) AS c FROM t")
            .await
            .expect("count");
        assert!(count.contains("| 2 |"), "{count}");
        let limited = rows(&ctx, "SELECT region FROM t LIMIT 1")
            .await
            .expect("limit");
        assert!(limited.contains("| EU "), "{limited}");
        let limited = rows(&ctx, "SELECT count(*) AS c FROM (SELECT id FROM t LIMIT 5)")
            .await
            .expect("limit");
        assert!(limited.contains("| 2 |"), "{limited}");
        let joined = rows(
            &ctx,
            "SELECT count(*) AS c FROM t a JOIN t b ON a.id = b.id WHERE b.region <> 'EU'",
        )
        .await
        .expect("join");
        assert!(joined.contains("| 0 |"), "{joined}");
    }

    #[tokio::test]
    async fn a_user_predicate_that_fails_never_runs_on_hidden_rows() {
        for statistics in [StatisticsMode::Protected, StatisticsMode::Performance] {
            let ctx = filtered(statistics).await;
            let divided = rows(&ctx, "SELECT count(*) AS c FROM t WHERE 10 / n >= 2")
                .await
                .expect("the hidden n = 0 is never divided by");
            assert!(divided.contains("| 1 |"), "{statistics:?}: {divided}");
            // The user's plain predicate prunes only in the performance mode.
            let plan = ctx
                .sql("SELECT id FROM t WHERE id = 3 AND 10 / n >= 0")
                .await
                .expect("plan")
                .into_optimized_plan()
                .expect("optimize")
                .display_indent()
                .to_string();
            let scan = plan.lines().find(|l| l.contains("TableScan")).expect(&plan);
            assert!(plan.contains("Filter: t.id = Int64(3)"), "{plan}");
            assert_eq!(
                scan.contains("partial_filters=[t.id = Int64(3)]"),
                statistics == StatisticsMode::Performance,
                "{statistics:?}: {plan}"
            );
            assert!(!scan.contains("10 / "), "{statistics:?}: {plan}");
            let one = rows(&ctx, "SELECT id FROM t WHERE id = 3 AND 10 / n >= 0")
                .await
                .expect("run");
            assert!(one.contains("| 3  |"), "{one}");
        }
    }
}

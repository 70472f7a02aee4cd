//! DataFusion's `eliminate_group_by_constant`, kept from removing the last grouping key.
//!
//! The rule drops constant expressions from a GROUP BY and projects them back. When every
//! key is a constant it turns a grouped aggregate into a global one, which answers one
//! row over an empty input where the grouped aggregate answers none
//! (`SELECT 'x', count(*) FROM t WHERE false GROUP BY 1` must be empty). Found by the
//! differential test against PostgreSQL; upstream apache/datafusion#15734 (fixed after
//! DataFusion 53 by apache/datafusion#22132). Until then this wrapper leaves such
//! aggregates alone and lets the rule rewrite every other.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// The rule's name in DataFusion's list.
pub(crate) const NAME: &str = "eliminate_group_by_constant";

#[derive(Debug)]
pub(crate) struct KeepLastGroupKey(pub(crate) Arc<dyn OptimizerRule + Send + Sync>);

/// An expression with no column and nothing volatile: the same value for every row.
fn constant(expr: &Expr) -> bool {
    expr.column_refs().is_empty() && !expr.is_volatile()
}

impl OptimizerRule for KeepLastGroupKey {
    fn name(&self) -> &str {
        NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if let LogicalPlan::Aggregate(aggregate) = &plan
            && !aggregate.group_expr.is_empty()
            && aggregate.group_expr.iter().all(constant)
        {
            return Ok(Transformed::no(plan));
        }
        self.0.rewrite(plan, config)
    }
}

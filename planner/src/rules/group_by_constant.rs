//! DataFusion's `eliminate_group_by_constant`, kept from removing the last grouping key.
//!
//! The rule drops constant expressions from a GROUP BY and projects them back. When every
//! key is a constant it turns a grouped aggregate into a global one, which answers one
//! row over an empty input where the grouped aggregate answers none
//! (`SELECT 'x', count(*) FROM t WHERE false GROUP BY 1` must be empty). Found by the
//! differential test against PostgreSQL; upstream apache/datafusion#15734 (fixed after
//! DataFusion 53 by apache/datafusion#22132). Until then this wrapper (`LeaveAggregates`)
//! leaves such aggregates alone and lets the rule rewrite every other.

use datafusion::logical_expr::{Aggregate, Expr};

/// The rule's name in DataFusion's list.
pub(crate) const NAME: &str = "eliminate_group_by_constant";

/// An expression with no column and nothing volatile: the same value for every row.
fn constant(expr: &Expr) -> bool {
    expr.column_refs().is_empty() && !expr.is_volatile()
}

/// Aggregations the rule must leave alone: every key a constant.
pub(crate) fn all_keys_constant(aggregate: &Aggregate) -> bool {
    !aggregate.group_expr.is_empty() && aggregate.group_expr.iter().all(constant)
}

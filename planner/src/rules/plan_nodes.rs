//! What the planner's join rules read off a logical plan: plain columns, the secured
//! input under a policy barrier, and the row count a scanned table reports.

use datafusion::common::Column;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{Expr, LogicalPlan};
use lakegate_security::rules::PolicyBarrier;

/// The column an expression is, looking through an alias.
pub(crate) fn plain_column(expr: &Expr) -> Option<Column> {
    match expr {
        Expr::Column(column) => Some(column.clone()),
        Expr::Alias(alias) => plain_column(&alias.expr),
        _ => None,
    }
}

/// The secured subtree under a policy barrier; `None` for any other node.
pub(crate) fn barrier_input(plan: &LogicalPlan) -> Option<&LogicalPlan> {
    let LogicalPlan::Extension(extension) = plan else {
        return None;
    };
    extension
        .node
        .as_any()
        .downcast_ref::<PolicyBarrier>()
        .map(PolicyBarrier::input)
}

/// The rows the table under a scan reports (Iceberg: its pinned snapshot's); `None`
/// for other nodes and for tables that do not know their size.
pub(crate) fn scanned_rows(plan: &LogicalPlan) -> Option<usize> {
    let LogicalPlan::TableScan(scan) = plan else {
        return None;
    };
    source_as_provider(&scan.source)
        .ok()?
        .statistics()?
        .num_rows
        .get_value()
        .copied()
}

//! What the planner's join rules read off a logical plan: plain columns, the secured
//! input under a policy barrier, the row filter a scan's source applies, and the row
//! count a scanned table reports.

use datafusion::common::Column;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{Expr, LogicalPlan};
use lakegate_security::rules::{PolicyBarrier, RowFilteredTable};

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

/// The row filter a scan's source applies (a governed scan's, see the security rule's
/// filtered source), its columns unqualified; `None` for other nodes and sources.
pub(crate) fn source_row_filter(plan: &LogicalPlan) -> Option<Expr> {
    let LogicalPlan::TableScan(scan) = plan else {
        return None;
    };
    let provider = source_as_provider(&scan.source).ok()?;
    provider
        .as_any()
        .downcast_ref::<RowFilteredTable>()
        .map(|filtered| filtered.predicate().clone())
}

//! The estimates join ordering weighs trees by: a relation's rows from its table's row
//! count and the forms of the filters on it, and the rows a join column's table holds
//! (the most distinct values the column can take). No column statistics are used.

use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, JoinType, LogicalPlan, Operator};

use crate::rules::plan_nodes::{barrier_input, plain_column, scanned_rows, source_row_filter};

/// Estimated rows of a relation: its table's rows times the selectivity of each distinct
/// filter on the way; `None` where a table does not know its size.
pub(crate) fn estimate(plan: &LogicalPlan, seen: &mut Vec<Expr>) -> Option<f64> {
    let filter = |predicate: &Expr, seen: &mut Vec<Expr>| {
        for conjunct in split_conjunction(predicate) {
            if !seen.contains(conjunct) {
                seen.push(conjunct.clone());
            }
        }
    };
    match plan {
        LogicalPlan::TableScan(scan) => {
            for f in scan.filters.iter().chain(source_row_filter(plan).as_ref()) {
                filter(f, seen);
            }
            let rows = provider_rows(plan)?;
            let selectivity: f64 = seen.iter().map(selectivity).product();
            let rows = rows * selectivity;
            Some(match scan.fetch {
                Some(fetch) => rows.min(fetch as f64),
                None => rows,
            })
        }
        LogicalPlan::Filter(f) => {
            filter(&f.predicate, seen);
            estimate(&f.input, seen)
        }
        LogicalPlan::Projection(_)
        | LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Repartition(_)
        | LogicalPlan::Distinct(_) => estimate(plan.inputs()[0], seen),
        // At most the input's rows.
        LogicalPlan::Limit(limit) => estimate(&limit.input, seen),
        LogicalPlan::Aggregate(aggregate) if aggregate.group_expr.is_empty() => Some(1.0),
        LogicalPlan::Aggregate(aggregate) => estimate(&aggregate.input, seen),
        LogicalPlan::Extension(_) => estimate(barrier_input(plan)?, seen),
        LogicalPlan::Join(join) => {
            let left = estimate(&join.left, &mut Vec::new())?;
            let right = estimate(&join.right, &mut Vec::new())?;
            Some(match join.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => left,
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => right,
                JoinType::Full => left + right,
                _ => left.max(right),
            })
        }
        _ => None,
    }
}

/// The scan under a chain of filters, projections, aliases and barriers.
pub(crate) fn table_of(plan: &LogicalPlan) -> Option<&LogicalPlan> {
    match plan {
        LogicalPlan::TableScan(_) => Some(plan),
        LogicalPlan::Filter(_) | LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) => {
            table_of(plan.inputs()[0])
        }
        LogicalPlan::Extension(_) => table_of(barrier_input(plan)?),
        _ => None,
    }
}

/// The row count the table under a scan reports.
pub(crate) fn provider_rows(plan: &LogicalPlan) -> Option<f64> {
    scanned_rows(plan).map(|rows| rows as f64)
}

/// The rows of the table `column` of `plan` is read from, following it through
/// projections, aliases and filters: the most distinct values it can hold.
pub(crate) fn table_rows(plan: &LogicalPlan, column: &Column) -> Option<f64> {
    let index = plan.schema().index_of_column(column).ok()?;
    match plan {
        LogicalPlan::TableScan(_) => provider_rows(plan),
        LogicalPlan::Projection(projection) => table_rows(
            &projection.input,
            &plain_column(projection.expr.get(index)?)?,
        ),
        LogicalPlan::SubqueryAlias(alias) => {
            let (qualifier, field) = alias.input.schema().qualified_field(index);
            table_rows(&alias.input, &Column::new(qualifier.cloned(), field.name()))
        }
        LogicalPlan::Filter(_) | LogicalPlan::Sort(_) | LogicalPlan::Limit(_) => {
            table_rows(plan.inputs()[0], column)
        }
        LogicalPlan::Extension(_) => table_rows(barrier_input(plan)?, column),
        _ => None,
    }
}

/// The share of rows a predicate keeps, by its form (no column statistics).
fn selectivity(predicate: &Expr) -> f64 {
    match predicate {
        Expr::Literal(ScalarValue::Boolean(Some(true)), _) => 1.0,
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => selectivity(left) * selectivity(right),
            Operator::Or => (selectivity(left) + selectivity(right)).min(1.0),
            Operator::Eq => 0.1,
            Operator::NotEq => 0.9,
            Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => 0.33,
            _ => 0.5,
        },
        Expr::Like(like) | Expr::SimilarTo(like) => match like.negated {
            true => 0.75,
            false => 0.25,
        },
        Expr::InList(list) => {
            let share = (0.1 * list.list.len() as f64).min(0.5);
            match list.negated {
                true => 1.0 - share,
                false => share,
            }
        }
        Expr::Between(between) => match between.negated {
            true => 0.75,
            false => 0.25,
        },
        Expr::IsNull(_) => 0.1,
        Expr::IsNotNull(_) => 0.9,
        Expr::Not(inner) => 1.0 - selectivity(inner),
        _ => 0.5,
    }
}

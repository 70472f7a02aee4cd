//! Semi-join reduction: an aggregate joined on its grouping key computes only the groups
//! that a selective relation on the other side of the join can match.
//!
//! DataFusion decorrelates `l_quantity < (SELECT avg(l_quantity) FROM lineitem WHERE
//! l_partkey = p_partkey)` into a join with an aggregate of *all* of `lineitem` grouped
//! by `l_partkey` (TPC-H Q2, Q17, Q20), although the outer query keeps only a few hundred
//! parts. DuckDB avoids that work with its delim join; this rule does it as a rewrite of
//! the logical plan: when one side of an equi-join is an aggregate grouped by the join
//! key, and the key on the other side comes from a filtered table at least twice smaller
//! than the aggregate's input, the aggregate's input is first semi-joined with that
//! table's keys. Only groups that could never join are dropped, so the answer is the same.
//!
//! The relation is read a second time, so it must read the same rows both times: only a
//! chain of filters and projections over one scan whose table knows its size (an Iceberg
//! snapshot, pinned for the statement), with no volatile expression and no limit, is
//! duplicated. A policy barrier in the chain is duplicated with it, so the keys are the
//! ones the principal may see.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, NullEquality, Result, ScalarValue};
use datafusion::logical_expr::{
    Aggregate, Distinct, Expr, Join, JoinConstraint, JoinType, LogicalPlan, Projection,
    SubqueryAlias,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use crate::rules::plan_nodes::{barrier_input, plain_column, scanned_rows, source_row_filter};

/// The alias of the key relation the rule adds: also how it knows an aggregate it
/// reduced already (the optimizer runs its rules more than once).
const KEYS: &str = "__semi_join_keys";

/// The optimizer rule.
#[derive(Debug, Default)]
pub struct SemiJoinReduction;

impl OptimizerRule for SemiJoinReduction {
    fn name(&self) -> &str {
        "semi_join_reduction"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = plan else {
            return Ok(Transformed::no(plan));
        };
        if join.null_equality != NullEquality::NullEqualsNothing || join.null_aware {
            return Ok(Transformed::no(LogicalPlan::Join(join)));
        }
        let (left_reducible, right_reducible) = reducible_sides(join.join_type);
        let pairs: Vec<(Column, Column)> = join
            .on
            .iter()
            .filter_map(|(l, r)| Some((plain_column(l)?, plain_column(r)?)))
            .collect();
        // The right side first (where decorrelation puts the aggregate), then the left.
        for reduce_right in [true, false] {
            let (reducible, grouped, other) = match reduce_right {
                true => (right_reducible, &join.right, &join.left),
                false => (left_reducible, &join.left, &join.right),
            };
            let keys = pairs.iter().map(|(l, r)| match reduce_right {
                true => (r.clone(), l.clone()),
                false => (l.clone(), r.clone()),
            });
            if !reducible {
                continue;
            }
            // A rewrite the engine would refuse (it should not happen) leaves the plan
            // as it was rather than failing the query.
            let reduced = reduce(grouped, other, keys).unwrap_or_else(|error| {
                tracing::warn!(%error, "semi-join reduction: plan left as it was");
                None
            });
            if let Some(reduced) = reduced {
                let reduced = Arc::new(reduced);
                let join = match reduce_right {
                    true => Join {
                        right: reduced,
                        ..join
                    },
                    false => Join {
                        left: reduced,
                        ..join
                    },
                };
                return Ok(Transformed::yes(LogicalPlan::Join(join)));
            }
        }
        Ok(Transformed::no(LogicalPlan::Join(join)))
    }
}

/// Which sides' rows reach the output only through an equi-match: (left, right). Those
/// sides lose nothing when their unmatchable groups go.
fn reducible_sides(join_type: JoinType) -> (bool, bool) {
    match join_type {
        JoinType::Inner => (true, true),
        JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti => (false, true),
        JoinType::Right | JoinType::RightSemi | JoinType::RightAnti => (true, false),
        JoinType::Full | JoinType::LeftMark | JoinType::RightMark => (false, false),
    }
}

/// `grouped` with its aggregate's input semi-joined with the keys of a relation of
/// `other`, for the first join key pair (grouped side's column, other side's column)
/// where that pays; `None` where none does.
fn reduce(
    grouped: &LogicalPlan,
    other: &LogicalPlan,
    pairs: impl Iterator<Item = (Column, Column)>,
) -> Result<Option<LogicalPlan>> {
    let Some(aggregate) = aggregate_below(grouped) else {
        return Ok(None);
    };
    let Some(aggregated_rows) = largest_table(&aggregate.input) else {
        return Ok(None);
    };
    for (grouped_column, other_column) in pairs {
        let Some(group_column) = group_input_column(grouped, &grouped_column) else {
            continue;
        };
        let group_type = aggregate
            .input
            .schema()
            .qualified_field_from_column(&group_column)?
            .1
            .data_type();
        let mut sources = Vec::new();
        key_sources(other, &other_column, &mut sources);
        let best = sources
            .into_iter()
            .filter(|s| s.selective && s.rows.saturating_mul(2) <= aggregated_rows)
            .filter(|s| {
                s.plan
                    .schema()
                    .qualified_field_from_column(&s.key)
                    .is_ok_and(|(_, f)| f.data_type() == group_type)
            })
            .min_by_key(|s| s.rows);
        let Some(source) = best else {
            continue;
        };
        let keys = Projection::try_new(
            vec![Expr::Column(source.key).alias("k")],
            Arc::new(source.plan),
        )?;
        let keys = SubqueryAlias::try_new(Arc::new(LogicalPlan::Projection(keys)), KEYS)?;
        let semi = Join::try_new(
            Arc::new(LogicalPlan::SubqueryAlias(keys)),
            aggregate.input.clone(),
            vec![(
                Expr::Column(Column::new(Some(KEYS), "k")),
                Expr::Column(group_column),
            )],
            None,
            JoinType::RightSemi,
            JoinConstraint::On,
            NullEquality::NullEqualsNothing,
            false,
        )?;
        return with_aggregate_input(grouped, LogicalPlan::Join(semi)).map(Some);
    }
    Ok(None)
}

/// The aggregate under a chain of aliases, projections and filters (a HAVING), if it
/// groups (no grouping sets) and was not reduced before.
fn aggregate_below(plan: &LogicalPlan) -> Option<&Aggregate> {
    match plan {
        LogicalPlan::Aggregate(aggregate) => {
            let plain = !aggregate.group_expr.is_empty()
                && !aggregate
                    .group_expr
                    .iter()
                    .any(|e| matches!(e, Expr::GroupingSet(_)));
            let reduced = matches!(
                aggregate.input.as_ref(),
                LogicalPlan::Join(j) if j.join_type == JoinType::RightSemi
                    && matches!(j.left.as_ref(), LogicalPlan::SubqueryAlias(a) if a.alias.table() == KEYS)
            );
            (plain && !reduced).then_some(aggregate)
        }
        LogicalPlan::SubqueryAlias(_) | LogicalPlan::Projection(_) | LogicalPlan::Filter(_) => {
            aggregate_below(plan.inputs()[0])
        }
        _ => None,
    }
}

/// The aggregate input's column that `column` of `plan` (the chain over the aggregate)
/// groups by, if it is a plain grouping column.
fn group_input_column(plan: &LogicalPlan, column: &Column) -> Option<Column> {
    let below = column_below(plan, column)?;
    match plan {
        LogicalPlan::Aggregate(_) => Some(below),
        _ => group_input_column(plan.inputs()[0], &below),
    }
}

/// `plan` (a chain over an aggregate) with the aggregate's input replaced.
fn with_aggregate_input(plan: &LogicalPlan, input: LogicalPlan) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Aggregate(aggregate) => {
            Ok(LogicalPlan::Aggregate(Aggregate::try_new_with_schema(
                Arc::new(input),
                aggregate.group_expr.clone(),
                aggregate.aggr_expr.clone(),
                aggregate.schema.clone(),
            )?))
        }
        _ => {
            let mut input = Some(input);
            plan.clone()
                .map_children(|child| {
                    let input = input.take().expect("a chain node has one input");
                    with_aggregate_input(&child, input).map(Transformed::yes)
                })
                .map(|t| t.data)
        }
    }
}

/// A relation that holds every value the join key can take on the other side.
struct KeySource {
    /// A chain of filters and projections over one scan.
    plan: LogicalPlan,
    /// The key's column in `plan`'s output.
    key: Column,
    /// Rows of the scanned table.
    rows: usize,
    /// Whether anything filters the table.
    selective: bool,
}

/// Collects the relations whose `column` values include all of `plan`'s: where `plan`
/// is a chain over a sized scan, itself; otherwise the relations below, following the
/// column through the node that produces it, and to the other side of an equi-join
/// whose every output row had a match.
fn key_sources(plan: &LogicalPlan, column: &Column, out: &mut Vec<KeySource>) {
    if let Some(chain) = chain(plan) {
        out.push(KeySource {
            plan: plan.clone(),
            key: column.clone(),
            rows: chain.rows,
            selective: chain.selective,
        });
        return;
    }
    match plan {
        LogicalPlan::Join(join) => {
            let from_left = match join.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => true,
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => false,
                _ => join.left.schema().has_column(column),
            };
            // Matched rows only: their key equals the other side's.
            let (own, other, matched) = if from_left {
                let matched = matches!(
                    join.join_type,
                    JoinType::Inner | JoinType::LeftSemi | JoinType::Right
                );
                (&join.left, &join.right, matched)
            } else {
                let matched = matches!(
                    join.join_type,
                    JoinType::Inner | JoinType::RightSemi | JoinType::Left
                );
                (&join.right, &join.left, matched)
            };
            if !own.schema().has_column(column) {
                return;
            }
            key_sources(own, column, out);
            if matched && join.null_equality == NullEquality::NullEqualsNothing {
                for (l, r) in &join.on {
                    let (mine, theirs) = if from_left { (l, r) } else { (r, l) };
                    if plain_column(mine).as_ref() == Some(column)
                        && let Some(theirs) = plain_column(theirs)
                    {
                        key_sources(other, &theirs, out);
                    }
                }
            }
        }
        // A policy barrier is taken whole or not at all (the chain above).
        LogicalPlan::Extension(_) => {}
        _ => {
            if let [input] = plan.inputs().as_slice()
                && let Some(below) = column_below(plan, column)
            {
                key_sources(input, &below, out);
            }
        }
    }
}

/// What a chain of filters and projections over one scan reads.
struct Chain {
    rows: usize,
    selective: bool,
}

/// `plan` as a chain that reads the same rows each time it runs: filters, projections,
/// aliases and policy barriers over one scan of a table that knows its size, no volatile
/// expression, no limit.
fn chain(plan: &LogicalPlan) -> Option<Chain> {
    match plan {
        LogicalPlan::Filter(filter) if repeatable(&filter.predicate) => {
            chain(&filter.input).map(|c| Chain {
                selective: c.selective || filters(&filter.predicate),
                ..c
            })
        }
        LogicalPlan::Projection(projection) if projection.expr.iter().all(repeatable) => {
            chain(&projection.input)
        }
        LogicalPlan::SubqueryAlias(alias) => chain(&alias.input),
        LogicalPlan::Extension(_) => chain(barrier_input(plan)?),
        // A row filter that looks another table up (customers by their entitlements):
        // the chain's rows kept where the lookup, itself repeatable, has a match.
        LogicalPlan::Join(join)
            if join.join_type == JoinType::LeftSemi
                && join.null_equality == NullEquality::NullEqualsNothing
                && repeatable_plan(&join.right)
                && join.filter.as_ref().is_none_or(repeatable)
                && join.on.iter().all(|(l, r)| repeatable(l) && repeatable(r)) =>
        {
            chain(&join.left).map(|c| Chain {
                selective: true,
                ..c
            })
        }
        LogicalPlan::TableScan(scan) if scan.fetch.is_none() => {
            // A governed scan's row filter, when its source applies it, counts as the
            // scan's own.
            let row_filter = source_row_filter(plan);
            let mut applied = scan.filters.iter().chain(row_filter.as_ref());
            if !applied.clone().all(repeatable) {
                return None;
            }
            Some(Chain {
                rows: scanned_rows(plan)?,
                selective: applied.any(filters),
            })
        }
        _ => None,
    }
}

/// Whether `plan` reads the same rows each time it runs: every scan of a table that
/// knows its size, no limit, nothing volatile.
fn repeatable_plan(plan: &LogicalPlan) -> bool {
    let mut repeats = true;
    let _ = plan.apply(|node| {
        let node_repeats = match node {
            LogicalPlan::Limit(_) => false,
            LogicalPlan::TableScan(scan) => {
                scan.fetch.is_none()
                    && scanned_rows(node).is_some()
                    && source_row_filter(node).is_none_or(|f| repeatable(&f))
            }
            _ => true,
        } && node.expressions().iter().all(repeatable);
        if node_repeats {
            Ok(TreeNodeRecursion::Continue)
        } else {
            repeats = false;
            Ok(TreeNodeRecursion::Stop)
        }
    });
    repeats
}

/// The row count of the largest table `plan` scans, if every table it scans knows its
/// size (an aggregate over a federated source is left whole, for the source to run).
fn largest_table(plan: &LogicalPlan) -> Option<usize> {
    let mut largest = Some(0);
    plan.apply(|node| {
        if let LogicalPlan::TableScan(_) = node {
            largest = largest.zip(scanned_rows(node)).map(|(a, b)| a.max(b));
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .ok()?;
    largest.filter(|&rows| rows > 0)
}

/// The input column that output `column` of a one-input `plan` passes through unchanged
/// (for an aggregate: the plain column it groups by).
fn column_below(plan: &LogicalPlan, column: &Column) -> Option<Column> {
    let index = plan.schema().index_of_column(column).ok()?;
    match plan {
        LogicalPlan::Projection(projection) => plain_column(projection.expr.get(index)?),
        LogicalPlan::SubqueryAlias(alias) => {
            let (qualifier, field) = alias.input.schema().qualified_field(index);
            Some(Column::new(qualifier.cloned(), field.name()))
        }
        LogicalPlan::Aggregate(aggregate) => plain_column(aggregate.group_expr.get(index)?),
        LogicalPlan::Filter(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::Repartition(_)
        | LogicalPlan::Distinct(Distinct::All(_)) => Some(column.clone()),
        LogicalPlan::Extension(_) => barrier_input(plan).map(|_| column.clone()),
        _ => None,
    }
}

/// Whether a predicate can drop rows (a policy may filter by a constant `true`).
fn filters(predicate: &Expr) -> bool {
    !matches!(
        predicate,
        Expr::Literal(ScalarValue::Boolean(Some(true)), _)
    )
}

/// Whether evaluating `expr` again gives the same values: nothing volatile, and no
/// subquery (which would be planned and run a second time).
fn repeatable(expr: &Expr) -> bool {
    !expr.is_volatile()
        && !expr
            .exists(|e| {
                Ok(matches!(
                    e,
                    Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
                ))
            })
            .unwrap_or(true)
}

#[cfg(test)]
#[path = "semi_join_reduction_tests.rs"]
mod tests;

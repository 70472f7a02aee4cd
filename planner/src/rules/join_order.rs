//! Join ordering: a tree of inner equi-joins over tables that know their size is rebuilt
//! in the order that keeps intermediate results smallest.
//!
//! DataFusion joins tables in the order the query names them (it only swaps build and
//! probe sides). TPC-H Q5 names `customer, orders, lineitem, supplier, nation, region`
//! and filters `region`: joined as written, 900 000 order lines meet the filter at the
//! end; joined from `region` through `nation` and `customer`, a fifth of them. This rule
//! flattens a tree of inner equi-joins into its relations and equality classes of join
//! columns, estimates every connected subset's rows from the tables' row counts (Iceberg
//! snapshot summaries), the filters on them and the number of distinct keys each class
//! can hold (the smallest table among its columns), and picks by dynamic programming the
//! join tree whose intermediate results sum to the fewest rows. Columns equal through a
//! class may be joined directly (`c_nationkey = n_nationkey` from `c_nationkey =
//! s_nationkey AND s_nationkey = n_nationkey`): inner equi-joins drop NULL keys, so the
//! equalities are transitive and the answer is the same. A tree with a relation of
//! unknown size, a join filter, an outer join or more than twelve relations is left as
//! written.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DataFusionError, NullEquality, Result};
use datafusion::logical_expr::{Expr, Join, JoinConstraint, JoinType, LogicalPlan, Projection};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use crate::rules::join_estimates::{estimate, provider_rows, table_of, table_rows};
use crate::rules::plan_nodes::plain_column;

/// The most relations ordered by search (2^n subsets).
const MAX_RELATIONS: usize = 12;

/// The optimizer rule.
#[derive(Debug, Default)]
pub struct JoinOrder;

impl OptimizerRule for JoinOrder {
    fn name(&self) -> &str {
        "join_order"
    }

    /// The rule walks the plan itself: each region is ordered as a whole, once, and
    /// the joins inside its relations as regions of their own.
    fn apply_order(&self) -> Option<ApplyOrder> {
        None
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        order_joins(plan)
    }
}

/// `plan` with every region of inner equi-joins in its best order.
fn order_joins(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    plan.transform_down(|node| {
        if !joins_in_region(&node) {
            return Ok(Transformed::no(node));
        }
        let mut region = Region::default();
        let written = flatten(&node, &mut region);
        let mut changed = false;
        let mut relations = Vec::with_capacity(region.relations.len());
        for relation in std::mem::take(&mut region.relations) {
            let ordered = order_joins(relation)?;
            changed |= ordered.transformed;
            relations.push(ordered.data);
        }
        region.relations = relations;
        if let Some(reordered) = reorder(&node, &region, written)? {
            return Ok(Transformed::new(reordered, true, TreeNodeRecursion::Jump));
        }
        let node = match changed {
            true => replace_relations(node, &mut region.relations.into_iter())?,
            false => node,
        };
        Ok(Transformed::new(node, changed, TreeNodeRecursion::Jump))
    })
}

/// The region `plan` as written, with its relations replaced in `flatten`'s order.
fn replace_relations(
    plan: LogicalPlan,
    relations: &mut impl Iterator<Item = LogicalPlan>,
) -> Result<LogicalPlan> {
    if !joins_in_region(&plan) && !pruning_projection(&plan) {
        return relations
            .next()
            .ok_or_else(|| DataFusionError::Internal("a join region lost a relation".into()));
    }
    plan.map_children(|child| replace_relations(child, relations).map(Transformed::yes))
        .map(|t| t.data)
}

/// A projection that only drops columns of a region's join.
fn pruning_projection(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Projection(projection)
        if projection.expr.iter().all(|e| matches!(e, Expr::Column(_)))
            && joins_in_region(&projection.input))
}

/// A join tree by relation index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Leaf(usize),
    Join(Box<Shape>, Box<Shape>),
}

impl Shape {
    /// The same tree with each join's children in order of their first relation, so
    /// that trees differing only in sides compare equal (DataFusion picks the sides).
    fn normalized(self) -> (usize, Shape) {
        match self {
            Shape::Leaf(i) => (i, Shape::Leaf(i)),
            Shape::Join(a, b) => {
                let (a_first, a) = a.normalized();
                let (b_first, b) = b.normalized();
                let (first, a, b) = if a_first <= b_first {
                    (a_first, a, b)
                } else {
                    (b_first, b, a)
                };
                (first, Shape::Join(Box::new(a), Box::new(b)))
            }
        }
    }
}

/// The relations and join keys of a tree of inner equi-joins.
#[derive(Default)]
struct Region {
    relations: Vec<LogicalPlan>,
    keys: Vec<(Column, Column)>,
}

/// Whether `plan` is an inner equi-join that the rule may flatten.
fn joins_in_region(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Join(join)
        if join.join_type == JoinType::Inner
            && join.filter.is_none()
            && join.null_equality == NullEquality::NullEqualsNothing
            && !join.on.is_empty()
            && join.on.iter().all(|(l, r)| plain_column(l).is_some() && plain_column(r).is_some()))
}

/// Flattens the region under `plan` into `region`, looking through projections that only
/// drop columns; the shape of the tree as written.
fn flatten(plan: &LogicalPlan, region: &mut Region) -> Shape {
    if let LogicalPlan::Join(join) = plan
        && joins_in_region(plan)
    {
        let left = flatten(&join.left, region);
        let right = flatten(&join.right, region);
        region.keys.extend(
            join.on
                .iter()
                .filter_map(|(l, r)| Some((plain_column(l)?, plain_column(r)?))),
        );
        return Shape::Join(Box::new(left), Box::new(right));
    }
    if let LogicalPlan::Projection(projection) = plan
        && pruning_projection(plan)
    {
        return flatten(&projection.input, region);
    }
    region.relations.push(plan.clone());
    Shape::Leaf(region.relations.len() - 1)
}

/// The region under `plan` joined in the best order, under a projection to `plan`'s
/// columns; `None` where it is already in that order or cannot be ordered.
fn reorder(plan: &LogicalPlan, region: &Region, written: Shape) -> Result<Option<LogicalPlan>> {
    let n = region.relations.len();
    if !(3..=MAX_RELATIONS).contains(&n) {
        return Ok(None);
    }
    let Some(graph) = Graph::new(region) else {
        return Ok(None);
    };
    let Some(best) = graph.best_tree() else {
        return Ok(None);
    };
    if best.clone().normalized().1 == written.normalized().1 {
        return Ok(None);
    }
    // A tree the engine would refuse (it should not happen) leaves the joins as written
    // rather than failing the query.
    let joined = match graph.build(&best, &region.relations) {
        Ok(joined) => joined,
        Err(error) => {
            tracing::warn!(%error, "join order: keeping the written order");
            return Ok(None);
        }
    };
    let columns = plan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    Ok(Some(LogicalPlan::Projection(Projection::try_new(
        columns,
        Arc::new(joined),
    )?)))
}

/// Relations, their estimated rows, and the classes of columns the joins make equal.
struct Graph {
    /// Estimated rows of each relation.
    rows: Vec<f64>,
    /// The share of its table's rows each relation keeps (1 where it is not a filtered
    /// table).
    kept: Vec<f64>,
    /// Each class: its columns with the relation each belongs to, its relations as a
    /// bit mask, and the most distinct values it can hold.
    classes: Vec<Class>,
}

struct Class {
    columns: Vec<(usize, Column)>,
    mask: u32,
    distinct: f64,
}

impl Graph {
    fn new(region: &Region) -> Option<Self> {
        let rows = region
            .relations
            .iter()
            .map(|r| estimate(r, &mut Vec::new()))
            .collect::<Option<Vec<f64>>>()?;
        let kept = region
            .relations
            .iter()
            .zip(&rows)
            .map(|(r, rows)| match table_of(r).and_then(provider_rows) {
                Some(table) if table > 0.0 => (rows / table).min(1.0),
                _ => 1.0,
            })
            .collect();
        // Union-find over the key columns.
        let mut ids: HashMap<Column, usize> = HashMap::new();
        let mut parent: Vec<usize> = Vec::new();
        let mut id = |c: &Column, parent: &mut Vec<usize>| {
            *ids.entry(c.clone()).or_insert_with(|| {
                parent.push(parent.len());
                parent.len() - 1
            })
        };
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for (l, r) in &region.keys {
            let (a, b) = (id(l, &mut parent), id(r, &mut parent));
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[ra] = rb;
        }
        let mut by_root: HashMap<usize, Vec<Column>> = HashMap::new();
        let mut columns: Vec<(&Column, &usize)> = ids.iter().collect();
        columns.sort_by_key(|(_, i)| **i);
        for (column, &i) in columns {
            by_root
                .entry(root(&mut parent, i))
                .or_default()
                .push(column.clone());
        }
        let mut roots: Vec<usize> = by_root.keys().copied().collect();
        roots.sort_unstable();
        let mut classes = Vec::new();
        for root in roots {
            let mut members = Vec::new();
            let mut mask = 0u32;
            let mut distinct = f64::INFINITY;
            for column in &by_root[&root] {
                let owners: Vec<usize> = (0..region.relations.len())
                    .filter(|&i| region.relations[i].schema().has_column(column))
                    .collect();
                // A column of no relation, or of two, cannot be placed.
                let [owner] = owners.as_slice() else {
                    return None;
                };
                // Two columns of one relation in a class would need a filter between
                // them, which joins between relations never apply.
                if mask & (1 << owner) != 0 {
                    return None;
                }
                mask |= 1 << owner;
                let domain = table_rows(&region.relations[*owner], column)
                    .unwrap_or(rows[*owner])
                    .max(1.0);
                distinct = distinct.min(domain);
                members.push((*owner, column.clone()));
            }
            classes.push(Class {
                columns: members,
                mask,
                distinct,
            });
        }
        Some(Self {
            rows,
            kept,
            classes,
        })
    }

    /// Estimated rows of joining the relations in `set`: the product of their rows
    /// divided, for each class, by its distinct values once per further relation it
    /// joins; but never fewer than the largest relation's rows kept by the others'
    /// filters. That floor is what joins along foreign keys give (each row of the
    /// largest finds its one match), and it holds the estimate up where two classes
    /// join the same pair of relations through one composite key (`lineitem` and
    /// `partsupp` on part and supplier), which the product counts twice.
    fn rows_of(&self, set: u32) -> f64 {
        let members: Vec<usize> = (0..self.rows.len())
            .filter(|i| set & (1 << i) != 0)
            .collect();
        let mut rows: f64 = members.iter().map(|&i| self.rows[i].max(1.0)).product();
        for class in &self.classes {
            let joined = (class.mask & set).count_ones();
            if joined > 1 {
                rows /= class.distinct.powi(joined as i32 - 1);
            }
        }
        let floor = members
            .iter()
            .map(|&i| {
                let others: f64 = members
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|&j| self.kept[j])
                    .product();
                self.rows[i] * others
            })
            .fold(0.0, f64::max);
        rows.max(floor).max(1.0)
    }

    /// Whether a join key connects `a` and `b`.
    fn connected(&self, a: u32, b: u32) -> bool {
        self.classes
            .iter()
            .any(|c| c.mask & a != 0 && c.mask & b != 0)
    }

    /// The join tree of every relation whose intermediate results sum to the fewest
    /// estimated rows, without cross joins.
    fn best_tree(&self) -> Option<Shape> {
        let n = self.rows.len();
        let full = (1u32 << n) - 1;
        // For each connected set: (cost, split).
        let mut best: Vec<Option<(f64, u32)>> = vec![None; 1 << n];
        for i in 0..n {
            best[1 << i] = Some((0.0, 0));
        }
        for set in 1..=full {
            if set.count_ones() < 2 {
                continue;
            }
            let rows = self.rows_of(set);
            // Each split once: the part holding the lowest relation on the left.
            let lowest = set & set.wrapping_neg();
            let mut part = (set - 1) & set;
            while part != 0 {
                let other = set & !part;
                if part & lowest != 0
                    && let (Some((a, _)), Some((b, _))) =
                        (best[part as usize], best[other as usize])
                    && self.connected(part, other)
                {
                    let cost = a + b + rows;
                    if best[set as usize].is_none_or(|(c, _)| cost < c) {
                        best[set as usize] = Some((cost, part));
                    }
                }
                part = (part - 1) & set;
            }
        }
        fn shape(best: &[Option<(f64, u32)>], set: u32) -> Option<Shape> {
            let (_, part) = best[set as usize]?;
            if part == 0 {
                return Some(Shape::Leaf(set.trailing_zeros() as usize));
            }
            Some(Shape::Join(
                Box::new(shape(best, part)?),
                Box::new(shape(best, set & !part)?),
            ))
        }
        shape(&best, full)
    }

    /// The relations joined as `shape` says, each join on one column pair per class the
    /// two sides share.
    fn build(&self, shape: &Shape, relations: &[LogicalPlan]) -> Result<LogicalPlan> {
        Ok(self.build_set(shape, relations)?.0)
    }

    fn build_set(&self, shape: &Shape, relations: &[LogicalPlan]) -> Result<(LogicalPlan, u32)> {
        match shape {
            Shape::Leaf(i) => Ok((relations[*i].clone(), 1 << i)),
            Shape::Join(a, b) => {
                let (left, left_set) = self.build_set(a, relations)?;
                let (right, right_set) = self.build_set(b, relations)?;
                let on = self
                    .classes
                    .iter()
                    .filter_map(|class| {
                        let side = |set: u32| {
                            class
                                .columns
                                .iter()
                                .find(|(owner, _)| set & (1 << owner) != 0)
                                .map(|(_, c)| Expr::Column(c.clone()))
                        };
                        Some((side(left_set)?, side(right_set)?))
                    })
                    .collect();
                let join = Join::try_new(
                    Arc::new(left),
                    Arc::new(right),
                    on,
                    None,
                    JoinType::Inner,
                    JoinConstraint::On,
                    NullEquality::NullEqualsNothing,
                    false,
                )?;
                Ok((LogicalPlan::Join(join), left_set | right_set))
            }
        }
    }
}

#[cfg(test)]
#[path = "join_order_tests.rs"]
mod tests;

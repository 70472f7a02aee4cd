//! Validated semantic models: each model over one base table, its dimensions, measures
//! and segments as parsed SQL qualified with the model's name, the joins between models,
//! and the columns each model shows as a table.

use std::collections::{BTreeMap, VecDeque};

use datafusion::sql::sqlparser::ast::Expr;

pub use crate::files::{DimensionType, Granularity, JoinKind, MeasureType, Relationship};

/// Every model, valid and joined into a forest.
#[derive(Debug, Clone, Default)]
pub struct SemanticModels {
    pub(crate) models: Vec<Model>,
    pub(crate) by_name: BTreeMap<String, usize>,
    pub(crate) edges: Vec<Edge>,
}

/// One model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Its name: the table's name in schema `semantic`.
    pub name: String,
    /// What it describes.
    pub description: Option<String>,
    /// The base table's name parts, `catalog.schema.table`.
    pub table: Vec<String>,
    /// The base table's key, qualified; needed to count a measure once per row when a
    /// one-to-many join fans rows out.
    pub primary_key: Option<Expr>,
    /// Its dimensions.
    pub dimensions: Vec<Dimension>,
    /// Its measures.
    pub measures: Vec<Measure>,
    /// Its segments.
    pub segments: Vec<Segment>,
}

/// A dimension: rows are grouped and filtered by it.
#[derive(Debug, Clone)]
pub struct Dimension {
    /// Its name.
    pub name: String,
    /// What it computes, qualified.
    pub expr: Expr,
    /// What it holds.
    pub kind: DimensionType,
    /// Time dimensions: the granularities offered as columns `<name>_<granularity>`.
    pub granularities: Vec<Granularity>,
    /// What it means.
    pub description: Option<String>,
}

/// A measure: an aggregate, or an expression over other measures.
#[derive(Debug, Clone)]
pub struct Measure {
    /// Its name.
    pub name: String,
    /// How it aggregates.
    pub kind: MeasureType,
    /// The aggregated expression, qualified; for derived measures the expression over
    /// measures, as written.
    pub expr: Option<Expr>,
    /// Only rows where this holds are aggregated, qualified.
    pub filter: Option<Expr>,
    /// What it means.
    pub description: Option<String>,
    /// Derived measures: the measures the expression names, `(model, measure)`.
    pub uses: Vec<(usize, usize)>,
}

/// A segment: a named filter.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Its name.
    pub name: String,
    /// The condition, qualified.
    pub expr: Expr,
    /// What it means.
    pub description: Option<String>,
}

/// A join between two models, as declared on `from`.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The declaring model.
    pub from: usize,
    /// The joined model.
    pub to: usize,
    /// Rows of `to` per row of `from`.
    pub relationship: Relationship,
    /// The condition, naming both models.
    pub on: Expr,
    /// Left or inner.
    pub kind: JoinKind,
}

/// One step of a walk from a model to another: the edge and whether it was walked in
/// its declared direction.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The edge's index.
    pub edge: usize,
    /// The model the step arrives at.
    pub to: usize,
    /// Rows arrived at per row left, seen in the walk's direction.
    pub relationship: Relationship,
}

/// What a column of a semantic table stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// A dimension, or a time dimension at a granularity.
    Dimension {
        /// The model.
        model: usize,
        /// The dimension.
        index: usize,
        /// Truncated to this granularity.
        grain: Option<Granularity>,
    },
    /// A measure.
    Measure {
        /// The model.
        model: usize,
        /// The measure.
        index: usize,
    },
    /// A segment: a boolean column for WHERE.
    Segment {
        /// The model.
        model: usize,
        /// The segment.
        index: usize,
    },
}

/// A column of a semantic table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name: the member's, prefixed `<model>_` for members of joined models.
    pub name: String,
    /// What it stands for.
    pub member: Member,
}

impl SemanticModels {
    /// The models, in the order they were read.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// A model's index by name.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// A model by index.
    pub fn model(&self, index: usize) -> &Model {
        &self.models[index]
    }

    /// The joins.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// Every model reachable from `root` through joins, with the path to it (empty for
    /// the root), nearest first. The joins form a forest, so each path is the only one.
    pub fn reachable(&self, root: usize) -> Vec<(usize, Vec<Step>)> {
        let mut seen = vec![false; self.models.len()];
        let mut out = Vec::new();
        let mut queue = VecDeque::from([(root, Vec::new())]);
        seen[root] = true;
        while let Some((model, path)) = queue.pop_front() {
            for (index, edge) in self.edges.iter().enumerate() {
                let step = if edge.from == model {
                    Step {
                        edge: index,
                        to: edge.to,
                        relationship: edge.relationship,
                    }
                } else if edge.to == model {
                    Step {
                        edge: index,
                        to: edge.from,
                        relationship: edge.relationship.reversed(),
                    }
                } else {
                    continue;
                };
                if !seen[step.to] {
                    seen[step.to] = true;
                    let mut next: Vec<Step> = path.clone();
                    next.push(step);
                    queue.push_back((step.to, next));
                }
            }
            out.push((model, path));
        }
        out
    }

    /// The columns model `root` shows as a table: its own dimensions (each time
    /// dimension followed by its granularities), measures and segments, then those of
    /// every model reachable through joins, prefixed with that model's name.
    pub fn columns(&self, root: usize) -> Vec<Column> {
        let mut columns = Vec::new();
        for (model, _) in self.reachable(root) {
            let prefix = if model == root {
                String::new()
            } else {
                format!("{}_", self.models[model].name)
            };
            let m = &self.models[model];
            for (index, dimension) in m.dimensions.iter().enumerate() {
                columns.push(Column {
                    name: format!("{prefix}{}", dimension.name),
                    member: Member::Dimension {
                        model,
                        index,
                        grain: None,
                    },
                });
                for grain in &dimension.granularities {
                    columns.push(Column {
                        name: format!("{prefix}{}_{}", dimension.name, grain.name()),
                        member: Member::Dimension {
                            model,
                            index,
                            grain: Some(*grain),
                        },
                    });
                }
            }
            for (index, measure) in m.measures.iter().enumerate() {
                columns.push(Column {
                    name: format!("{prefix}{}", measure.name),
                    member: Member::Measure { model, index },
                });
            }
            for (index, segment) in m.segments.iter().enumerate() {
                columns.push(Column {
                    name: format!("{prefix}{}", segment.name),
                    member: Member::Segment { model, index },
                });
            }
        }
        columns
    }
}

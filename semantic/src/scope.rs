//! The columns of one semantic table as a query sees them: resolving names (bare, or
//! qualified by the table's name or alias), recognising measure references (`MEASURE(m)`,
//! `SUM(m)` and the other matching aggregates, or `m` alone) and the base-table SQL each
//! dimension and segment stands for.

use std::collections::HashMap;

use datafusion::sql::sqlparser::ast::{
    DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
};

use crate::error::{QueryError, QueryErrorKind};
use crate::expr::{normalize, parse_expr};
use crate::model::{Column, MeasureType, Member, SemanticModels};

/// Aggregate functions a query might wrap a column in.
const AGGREGATES: &[&str] = &[
    "sum",
    "count",
    "min",
    "max",
    "avg",
    "mean",
    "array_agg",
    "string_agg",
    "stddev",
    "variance",
    "median",
    "bool_and",
    "bool_or",
    "approx_distinct",
];

/// One semantic table in one SELECT.
pub(crate) struct Scope<'a> {
    pub models: &'a SemanticModels,
    pub root: usize,
    pub columns: Vec<Column>,
    by_name: HashMap<String, usize>,
    /// Names that qualify its columns: the alias, or the table's name parts.
    qualifiers: Vec<Vec<String>>,
    /// `semantic.<model>`, for messages.
    pub label: String,
}

impl<'a> Scope<'a> {
    pub(crate) fn new(
        models: &'a SemanticModels,
        root: usize,
        table: &[String],
        alias: Option<&Ident>,
    ) -> Self {
        let columns = models.columns(root);
        let by_name = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let qualifiers = match alias {
            Some(alias) => vec![vec![normalize(alias)]],
            // `orders.x`, `semantic.orders.x` and `lake.semantic.orders.x`.
            None => (0..table.len()).map(|i| table[i..].to_vec()).collect(),
        };
        Self {
            label: format!("semantic.{}", models.model(root).name),
            models,
            root,
            columns,
            by_name,
            qualifiers,
        }
    }

    /// The column an identifier names, if it names one of this table's.
    pub(crate) fn column(&self, expr: &Expr) -> Option<usize> {
        match expr {
            Expr::Identifier(ident) => self.by_name.get(&normalize(ident)).copied(),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let names: Vec<String> = parts.iter().map(normalize).collect();
                let (qualifier, name) = names.split_at(names.len() - 1);
                self.qualifiers
                    .iter()
                    .any(|q| q.as_slice() == qualifier)
                    .then(|| self.by_name.get(&name[0]).copied())
                    .flatten()
            }
            _ => None,
        }
    }

    /// The measure column an expression refers to, if it is a measure reference; an
    /// error if it wraps a measure in an aggregate that does not match it.
    pub(crate) fn measure(&self, expr: &Expr) -> Result<Option<usize>, QueryError> {
        if let Some(column) = self.column(expr) {
            return Ok(
                matches!(self.columns[column].member, Member::Measure { .. }).then_some(column),
            );
        }
        let Expr::Function(function) = expr else {
            return Ok(None);
        };
        let name = match function.name.0.as_slice() {
            [part] => part.as_ident().map(normalize).unwrap_or_default(),
            _ => return Ok(None),
        };
        let is_measure_fn = name == "measure";
        if !is_measure_fn && !AGGREGATES.contains(&name.as_str()) {
            return Ok(None);
        }
        let FunctionArguments::List(list) = &function.args else {
            return Ok(None);
        };
        let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
        let arg = match list.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] => arg,
            _ if is_measure_fn => {
                return Err(QueryError::new(
                    QueryErrorKind::WrongAggregate,
                    "MEASURE() takes one measure column",
                ));
            }
            _ => return Ok(None),
        };
        let Some(column) = self.column(arg) else {
            if is_measure_fn && matches!(arg, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                return Err(QueryError::new(
                    QueryErrorKind::UndefinedColumn,
                    format!("column {arg} does not exist in {}", self.label),
                ));
            }
            if is_measure_fn {
                return Err(QueryError::new(
                    QueryErrorKind::WrongAggregate,
                    format!(
                        "MEASURE() takes a measure column of {}, not {arg}",
                        self.label
                    ),
                ));
            }
            return Ok(None);
        };
        let Member::Measure { model, index } = self.columns[column].member else {
            if is_measure_fn {
                return Err(QueryError::new(
                    QueryErrorKind::WrongAggregate,
                    format!(
                        "MEASURE() takes a measure column; {} of {} is not a measure",
                        self.columns[column].name, self.label
                    ),
                ));
            }
            return Ok(None);
        };
        if function.over.is_some() || function.filter.is_some() {
            return Err(QueryError::new(
                QueryErrorKind::Unsupported,
                format!(
                    "measure {} cannot take FILTER or OVER; define a filtered measure in the model",
                    self.columns[column].name
                ),
            ));
        }
        let kind = self.models.model(model).measures[index].kind;
        let matches = is_measure_fn
            || match kind {
                MeasureType::Sum => name == "sum" && !distinct,
                MeasureType::Count => (name == "count" || name == "sum") && !distinct,
                MeasureType::CountDistinct => name == "count",
                MeasureType::Avg => (name == "avg" || name == "mean") && !distinct,
                MeasureType::Min => name == "min",
                MeasureType::Max => name == "max",
                MeasureType::Derived => false,
            };
        if !matches {
            let forms = match kind {
                MeasureType::Sum => "SUM() or MEASURE()",
                MeasureType::Count => "COUNT(), SUM() or MEASURE()",
                MeasureType::CountDistinct => "COUNT(DISTINCT) or MEASURE()",
                MeasureType::Avg => "AVG() or MEASURE()",
                MeasureType::Min => "MIN() or MEASURE()",
                MeasureType::Max => "MAX() or MEASURE()",
                MeasureType::Derived => "MEASURE(), or used alone",
            };
            return Err(QueryError::new(
                QueryErrorKind::WrongAggregate,
                format!(
                    "measure {} of {} is a {} measure: use it in {forms}, not {expr}",
                    self.columns[column].name,
                    self.label,
                    kind.name()
                ),
            ));
        }
        Ok(Some(column))
    }

    /// Whether an expression is an aggregate call that is not a measure reference.
    pub(crate) fn is_other_aggregate(expr: &Expr) -> bool {
        let Expr::Function(function) = expr else {
            return false;
        };
        match function.name.0.as_slice() {
            [part] => part
                .as_ident()
                .is_some_and(|i| AGGREGATES.contains(&normalize(i).as_str())),
            _ => false,
        }
    }

    /// The base-table SQL a dimension or segment column stands for.
    pub(crate) fn base_expr(&self, column: usize) -> Result<Expr, QueryError> {
        match self.columns[column].member {
            Member::Dimension {
                model,
                index,
                grain,
            } => {
                let dimension = &self.models.model(model).dimensions[index];
                match grain {
                    None => Ok(dimension.expr.clone()),
                    // Every granularity is a calendar date (the day it starts on).
                    Some(grain) => parse_expr(&format!(
                        "CAST(date_trunc('{}', {}) AS DATE)",
                        grain.name(),
                        dimension.expr
                    ))
                    .map_err(|e| QueryError::new(QueryErrorKind::Unsupported, e)),
                }
            }
            Member::Segment { model, index } => {
                Ok(self.models.model(model).segments[index].expr.clone())
            }
            Member::Measure { .. } => Err(QueryError::new(
                QueryErrorKind::Grouping,
                format!(
                    "measure {} of {} has no row-level value",
                    self.columns[column].name, self.label
                ),
            )),
        }
    }
}

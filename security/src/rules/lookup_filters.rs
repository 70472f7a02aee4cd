//! Row filters that look other tables up (`c_nationkey IN (SELECT nationkey FROM
//! lake.security.entitlements WHERE user_name = ${user.name})`, an order following its
//! customer). Their subqueries need the catalogs, which the analyzer cannot reach, so
//! the statement pipeline plans each such filter once per statement (with the user's
//! attributes bound as parameters) before the analyzer runs, and hands the predicate
//! over with [`SecureScans::set_lookup`]; the analyzer puts it above the scan.
//!
//! A lookup reads as the policy's own: the looked-up table's row filters for the
//! principal apply when the principal may read it (an order follows only the customers
//! the reader sees), and a table the principal may not read (an entitlements table) is
//! read whole; masks and column denials, which are about what a reader is shown, do
//! not apply to values a filter compares. A filter that was not planned fails the
//! statement: nothing is read without its filter.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, Result, ScalarValue, TableReference};
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, TableScan};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;

use super::expressions::{parse, policy_error};
use super::secure_scan::{AccessReport, SecureScans, bound_attributes};
use crate::policy::lookups::lookup_sql;
use crate::policy::{RowFilterRule, TableAccess};

/// A lookup filter's predicate planned for the current statement.
#[derive(Debug, Clone)]
pub(super) struct PlannedLookup {
    predicate: Expr,
    /// What its subqueries evaluated while planning read, when some were.
    evaluated: Option<EvaluatedLookups>,
}

/// What a lookup's subqueries evaluated while planning read: tables and row filters,
/// for the audit report, and their secured plans, for whoever keeps a plan that
/// holds the values to check they still read the same data.
#[derive(Debug, Clone, Default)]
pub struct EvaluatedLookups {
    /// `catalog.schema.table` of every table read.
    pub tables: Vec<String>,
    /// The row filters applied to them, by policy id.
    pub filters: Vec<String>,
    /// The secured plans evaluated.
    pub plans: Vec<LogicalPlan>,
}

impl EvaluatedLookups {
    /// Adds what another evaluation read.
    pub fn extend(&mut self, other: EvaluatedLookups) {
        for table in other.tables {
            if !self.tables.contains(&table) {
                self.tables.push(table);
            }
        }
        self.filters.extend(other.filters);
        self.plans.extend(other.plans);
    }
}

/// Lookups inside lookups deeper than this are refused (circles are refused at load;
/// this bounds what wildcard patterns could still chain).
const MAX_DEPTH: usize = 8;

impl SecureScans {
    /// Whether any row filter of the principal looks other tables up: when none does,
    /// a statement has no lookups to plan.
    pub fn has_lookups(&self) -> bool {
        self.policy.current().has_lookups(&self.principal)
    }

    /// The principal's row filters on `table` that look other tables up, which the
    /// pipeline must plan for this statement.
    pub fn lookups_needed(&self, table: &str) -> Vec<RowFilterRule> {
        match self.policy.current().table_access(&self.principal, table) {
            TableAccess::Filtered(rules) => rules
                .into_iter()
                .filter(|rule| !rule.looks_up.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The query that plans `rule` over `table`: `SELECT * FROM table WHERE (filter)`
    /// with each `${user.ATTR}` a parameter, and the parameters' values.
    pub fn lookup_query(
        &self,
        rule: &RowFilterRule,
        table: &str,
    ) -> Result<(String, Vec<ScalarValue>)> {
        let attributes = bound_attributes(&self.principal);
        let mut values = Vec::new();
        let sql = lookup_sql(table, &rule.expression, |name| {
            let value = attributes.get(name).ok_or_else(|| {
                format!("the user has no attribute {name:?}, which the policy needs")
            })?;
            values.push(ScalarValue::Utf8(Some(value.clone())));
            Ok(format!("${}", values.len()))
        })
        .map_err(|e| policy_error(format!("{}: {e}", rule.id)))?;
        Ok((sql, values))
    }

    /// Hands over the predicate of `rule_id` planned by [`SecureScans::lookup_query`]:
    /// its columns qualified with the table's full name.
    pub fn set_lookup(&self, rule_id: &str, predicate: Expr) {
        self.keep_lookup(rule_id, predicate, None);
    }

    /// The predicate planned for `rule_id` in this statement, as last handed over.
    pub fn lookup_predicate(&self, rule_id: &str) -> Option<Expr> {
        self.lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(rule_id)
            .map(|planned| planned.predicate.clone())
    }

    /// A lookup's subquery as the policy reads it (see the module's note), for the
    /// pipeline to evaluate while planning, and what securing it applied.
    pub fn secure_lookup_subquery(
        &self,
        plan: &LogicalPlan,
    ) -> Result<(LogicalPlan, EvaluatedLookups)> {
        let mut report = AccessReport::default();
        let secured = self.secure_lookup_plan(plan, &mut report, 0)?;
        Ok((
            secured.clone(),
            EvaluatedLookups {
                tables: report.tables,
                filters: report.filters,
                plans: vec![secured],
            },
        ))
    }

    /// Hands over the predicate of `rule_id` with some of its subqueries evaluated into
    /// values; `evaluated` is what they read, which the audit report still names.
    pub fn set_evaluated_lookup(
        &self,
        rule_id: &str,
        predicate: Expr,
        evaluated: EvaluatedLookups,
    ) {
        self.keep_lookup(rule_id, predicate, Some(evaluated));
    }

    fn keep_lookup(&self, rule_id: &str, predicate: Expr, evaluated: Option<EvaluatedLookups>) {
        self.lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                rule_id.to_string(),
                PlannedLookup {
                    predicate,
                    evaluated,
                },
            );
    }

    /// The secured subquery plans this statement's lookups evaluated while planning:
    /// a plan that holds their values is valid only while these read the same data.
    pub fn evaluated_lookup_plans(&self) -> Vec<LogicalPlan> {
        self.lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(|planned| planned.evaluated.as_ref())
            .flat_map(|evaluated| evaluated.plans.iter().cloned())
            .collect()
    }

    /// Forgets the lookups planned for the last statement.
    pub fn clear_lookups(&self) {
        self.lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The predicate of one row filter over a scan of `table` named `qualifier`.
    pub(super) fn rule_expr(
        &self,
        rule: &RowFilterRule,
        table: &str,
        qualifier: &TableReference,
        schema: &DFSchema,
        report: &mut AccessReport,
        depth: usize,
    ) -> Result<Expr> {
        let looked_up = &rule.looks_up;
        if looked_up.is_empty() {
            return parse(
                &self.parser,
                &rule.expression,
                schema,
                &bound_attributes(&self.principal),
                &rule.id,
            );
        }
        if depth >= MAX_DEPTH {
            return Err(policy_error(format!(
                "{}: row filters look each other up more than {MAX_DEPTH} deep",
                rule.id
            )));
        }
        let PlannedLookup {
            predicate: planned,
            evaluated,
        } = self
            .lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&rule.id)
            .cloned()
            .ok_or_else(|| {
                policy_error(format!(
                    "{}: the row filter on {table} looks up {} and was not planned for \
                     this statement",
                    rule.id,
                    looked_up.join(", ")
                ))
            })?;
        if let Some(evaluated) = evaluated {
            // Values read while planning: the audit names what they were read from.
            for read in evaluated.tables {
                if !report.tables.contains(&read) {
                    report.tables.push(read);
                }
            }
            report.filters.extend(evaluated.filters);
        }
        let planned_as = full_reference(table);
        let requalified = requalify(planned, &planned_as, qualifier)?;
        requalified
            .transform_up(|expr| match expr {
                Expr::InSubquery(mut in_subquery) => {
                    in_subquery.subquery.subquery = Arc::new(self.secure_lookup_plan(
                        &in_subquery.subquery.subquery,
                        report,
                        depth,
                    )?);
                    Ok(Transformed::yes(Expr::InSubquery(in_subquery)))
                }
                Expr::Exists(mut exists) => {
                    exists.subquery.subquery = Arc::new(self.secure_lookup_plan(
                        &exists.subquery.subquery,
                        report,
                        depth,
                    )?);
                    Ok(Transformed::yes(Expr::Exists(exists)))
                }
                Expr::ScalarSubquery(mut subquery) => {
                    subquery.subquery =
                        Arc::new(self.secure_lookup_plan(&subquery.subquery, report, depth)?);
                    Ok(Transformed::yes(Expr::ScalarSubquery(subquery)))
                }
                other => Ok(Transformed::no(other)),
            })
            .map(|t| t.data)
    }

    /// A lookup's plan with each table it reads under the principal's row filters
    /// (when the principal may read it at all).
    fn secure_lookup_plan(
        &self,
        plan: &LogicalPlan,
        report: &mut AccessReport,
        depth: usize,
    ) -> Result<LogicalPlan> {
        let secured = plan
            .clone()
            .transform_up_with_subqueries(|node| match node {
                LogicalPlan::TableScan(scan) => self.secure_lookup(scan, report, depth + 1),
                other => Ok(Transformed::no(other)),
            })?;
        Ok(secured.data)
    }

    fn secure_lookup(
        &self,
        scan: TableScan,
        report: &mut AccessReport,
        depth: usize,
    ) -> Result<Transformed<LogicalPlan>> {
        let resolved = scan.table_name.clone().resolve("", "");
        let table = format!(
            "{}.{}.{}",
            resolved.catalog, resolved.schema, resolved.table
        );
        if !report.tables.contains(&table) {
            report.tables.push(table.clone());
        }
        let access = self.policy.current().table_access(&self.principal, &table);
        let TableAccess::Filtered(rules) = access else {
            // Readable whole, or not readable by the principal: the policy reads it.
            return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
        };
        let schema = scan.projected_schema.clone();
        let qualifier = scan.table_name.clone();
        let mut predicate: Option<Expr> = None;
        for rule in &rules {
            let expr = self.rule_expr(rule, &table, &qualifier, &schema, report, depth)?;
            predicate = Some(match predicate {
                Some(p) => p.or(expr),
                None => expr,
            });
            report.filters.push(rule.id.clone());
        }
        let Some(predicate) = predicate else {
            return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
        };
        let filtered = LogicalPlan::Filter(Filter::try_new(
            predicate,
            Arc::new(LogicalPlan::TableScan(scan)),
        )?);
        let coerced = TypeCoercion::new()
            .analyze(filtered, &Default::default())
            .map_err(|e| policy_error(format!("row filter on {table} (a lookup): {e}")))?;
        Ok(Transformed::yes(coerced))
    }
}

/// `catalog.schema.table` as the full reference a lookup query planned it under.
fn full_reference(table: &str) -> TableReference {
    let mut parts = table.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(catalog), Some(schema), Some(name)) => TableReference::full(catalog, schema, name),
        _ => TableReference::bare(table),
    }
}

/// `expr` with the columns (and outer references in its subqueries) of `from` renamed
/// to `to`.
fn requalify(expr: Expr, from: &TableReference, to: &TableReference) -> Result<Expr> {
    let rename = |column: &Column| -> Option<Column> {
        (column.relation.as_ref() == Some(from))
            .then(|| Column::new(Some(to.clone()), column.name.clone()))
    };
    let renamed = expr.transform_up(|e| match e {
        Expr::Column(column) => match rename(&column) {
            Some(new) => Ok(Transformed::yes(Expr::Column(new))),
            None => Ok(Transformed::no(Expr::Column(column))),
        },
        Expr::OuterReferenceColumn(field, column) => match rename(&column) {
            Some(new) => Ok(Transformed::yes(Expr::OuterReferenceColumn(field, new))),
            None => Ok(Transformed::no(Expr::OuterReferenceColumn(field, column))),
        },
        other => Ok(Transformed::no(other)),
    })?;
    let outer = |exprs: Vec<Expr>| -> Result<Vec<Expr>> {
        exprs
            .into_iter()
            .map(|e| {
                e.transform_up(|x| match x {
                    Expr::OuterReferenceColumn(field, column) => match rename(&column) {
                        Some(new) => Ok(Transformed::yes(Expr::OuterReferenceColumn(field, new))),
                        None => Ok(Transformed::no(Expr::OuterReferenceColumn(field, column))),
                    },
                    other => Ok(Transformed::no(other)),
                })
                .map(|t| t.data)
            })
            .collect()
    };
    // Correlated lookups name the outer table inside their subqueries.
    renamed
        .data
        .transform_up(|e| {
            let rewrite = |plan: &LogicalPlan| -> Result<LogicalPlan> {
                plan.clone()
                    .transform_up_with_subqueries(|node| {
                        node.map_expressions(|inner| {
                            inner.transform_up(|x| match x {
                                Expr::OuterReferenceColumn(field, column) => {
                                    match rename(&column) {
                                        Some(new) => Ok(Transformed::yes(
                                            Expr::OuterReferenceColumn(field, new),
                                        )),
                                        None => Ok(Transformed::no(Expr::OuterReferenceColumn(
                                            field, column,
                                        ))),
                                    }
                                }
                                other => Ok(Transformed::no(other)),
                            })
                        })
                    })
                    .map(|t| t.data)
            };
            match e {
                Expr::Exists(mut exists) => {
                    exists.subquery.subquery = Arc::new(rewrite(&exists.subquery.subquery)?);
                    exists.subquery.outer_ref_columns =
                        outer(std::mem::take(&mut exists.subquery.outer_ref_columns))?;
                    Ok(Transformed::yes(Expr::Exists(exists)))
                }
                Expr::InSubquery(mut in_subquery) => {
                    in_subquery.subquery.subquery =
                        Arc::new(rewrite(&in_subquery.subquery.subquery)?);
                    in_subquery.subquery.outer_ref_columns =
                        outer(std::mem::take(&mut in_subquery.subquery.outer_ref_columns))?;
                    Ok(Transformed::yes(Expr::InSubquery(in_subquery)))
                }
                Expr::ScalarSubquery(mut subquery) => {
                    subquery.subquery = Arc::new(rewrite(&subquery.subquery)?);
                    subquery.outer_ref_columns =
                        outer(std::mem::take(&mut subquery.outer_ref_columns))?;
                    Ok(Transformed::yes(Expr::ScalarSubquery(subquery)))
                }
                other => Ok(Transformed::no(other)),
            }
        })
        .map(|t| t.data)
}

//! Row filters that look other tables up, planned once per statement before the
//! analyzer secures the scans (which cannot reach the catalogs itself): for every table
//! the statement reads, and every table those lookups read in turn, each such filter of
//! the principal is planned as `SELECT * FROM table WHERE (filter)` with the user's
//! attributes as parameters, and its predicate handed to the session's security rule.
//! Lookups are planned over the providers the statement resolved (see
//! [`LookupTables`]): the same snapshots, and no table resolved twice.

use std::collections::HashSet;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan};

use super::engine::Engine;
use super::lookup_tables::LookupTables;
use crate::session::Session;
use crate::{ErrorKind, QueryError, Result};

/// Deeper chains are refused (circles already are, at policy load).
const MAX_DEPTH: usize = 8;

/// Plans the lookups `plan` needs for the session's principal and, when `evaluate`
/// (a statement that reads rows, under admission), evaluates the small ones into
/// lists (see [`super::lookup_values`]).
pub(crate) async fn prepare(
    engine: &Engine,
    session: &Session,
    state: &SessionState,
    plan: &LogicalPlan,
    evaluate: bool,
) -> Result<()> {
    let rule = &session.rule;
    rule.clear_lookups();
    if !rule.has_lookups() {
        return Ok(());
    }
    let catalog = &state.config_options().catalog;
    let (default_catalog, default_schema) = (&catalog.default_catalog, &catalog.default_schema);
    let mut pending: Vec<(String, usize)> = tables_read(plan, default_catalog, default_schema)
        .into_iter()
        .map(|t| (t, 0))
        .collect();
    let mut planned = HashSet::new();
    let mut order = Vec::new();
    let mut sources = LookupTables::of_statement(state, plan, &session.lookup_plans);
    while let Some((table, depth)) = pending.pop() {
        for filter in rule.lookups_needed(&table) {
            if !planned.insert(filter.id.clone()) {
                continue;
            }
            if depth >= MAX_DEPTH {
                return Err(QueryError::new(
                    ErrorKind::InsufficientPrivilege,
                    format!(
                        "{}: row filters look each other up more than {MAX_DEPTH} deep",
                        filter.id
                    ),
                ));
            }
            let failed = |e: String| {
                QueryError::new(
                    ErrorKind::Internal,
                    format!(
                        "{}: the row filter on {table} cannot be planned: {e}",
                        filter.id
                    ),
                )
            };
            let (sql, values) = rule
                .lookup_query(&filter, &table)
                .map_err(QueryError::from)?;
            let plan = sources
                .plan(&sql)
                .await
                .map_err(|e| failed(e.to_string()))?
                .with_param_values(values)
                .map_err(|e| failed(e.to_string()))?;
            let predicate =
                filter_predicate(&plan).ok_or_else(|| failed("its plan has no filter".into()))?;
            for looked_up in subquery_tables(&predicate) {
                pending.push((looked_up, depth + 1));
            }
            rule.set_lookup(&filter.id, predicate);
            order.push(filter.id.clone());
        }
    }
    // EXPLAIN shows the plan the values would be written into.
    let explained = matches!(plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_));
    if evaluate && !explained {
        super::lookup_values::evaluate(engine, session, state, &order).await?;
    }
    Ok(())
}

/// `catalog.schema.table` of every scan of `plan`, subqueries included.
fn tables_read(plan: &LogicalPlan, default_catalog: &str, default_schema: &str) -> Vec<String> {
    let mut tables = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let resolved = scan
                .table_name
                .clone()
                .resolve(default_catalog, default_schema);
            let (base, _) = lakegate_security::policy::governed_table(&resolved.table);
            let table = format!("{}.{}.{base}", resolved.catalog, resolved.schema);
            if !tables.contains(&table) {
                tables.push(table);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    tables
}

/// The predicate of the first filter of a planned `SELECT * FROM t WHERE …`.
fn filter_predicate(plan: &LogicalPlan) -> Option<Expr> {
    let mut found = None;
    let _ = plan.apply(|node| {
        if let LogicalPlan::Filter(filter) = node {
            found = Some(filter.predicate.clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The tables a predicate's subqueries read (lookup tables are named in full).
fn subquery_tables(predicate: &Expr) -> Vec<String> {
    let mut tables = Vec::new();
    let _ = predicate.apply(|expr| {
        let subquery = match expr {
            Expr::InSubquery(in_subquery) => Some(&in_subquery.subquery.subquery),
            Expr::Exists(exists) => Some(&exists.subquery.subquery),
            Expr::ScalarSubquery(subquery) => Some(&subquery.subquery),
            _ => None,
        };
        if let Some(plan) = subquery {
            tables.extend(tables_read(plan, "", ""));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    tables
}

//! Row-filter lookups evaluated while planning: an uncorrelated `x IN (SELECT …)` of a
//! lookup filter whose subquery, read as the policy reads it, returns at most
//! [`MAX_VALUES`] distinct values becomes `x IN (v1, v2, …)` in the statement's plan.
//!
//! The entitlement pattern (`c_nationkey IN (SELECT nationkey FROM entitlements WHERE
//! user_name = ${user.name})`) looks up a handful of keys. Planned as a semi-join, that
//! costs every statement DataFusion's decorrelation, a join and a scan to plan (about
//! 1 ms on TPC-H Q3); as a list it costs a lookup in a cache, and the list prunes the
//! filtered table's files by their bounds where a join cannot.
//!
//! The values are the subquery's rows at the snapshots the statement pinned, read under
//! the statement's admission, limits and meter (the scan counts into the query's
//! figures), and kept by the digest of the secured subquery plan and the version of
//! every table it reads: a new snapshot of the entitlements is a new key, so a grant or
//! revocation applies from the next statement. Subqueries over tables without versions
//! (a PostgreSQL entitlements table), or calling volatile functions, are read for every
//! statement. A subquery with more values stays a semi-join (and that outcome is kept
//! too, so it is not read again for the same data).
//!
//! Not for EXPLAIN, estimates or Describe: those show or price the plan without reading
//! rows, so their lookups stay subqueries. Nor read for a principal under a scan limit
//! or a hard budget, whose statements are refused by their estimate before anything is
//! read: their lookups use kept values only, and stay semi-joins until another
//! statement has read them.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::execution::{SessionState, TaskContext};
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, Subquery, lit};
use datafusion::optimizer::Analyzer;
use lakegate_catalog::CatalogRegistry;
use lakegate_security::rules::EvaluatedLookups;

use super::engine::Engine;
use super::lookup_cache::LookupValues;
use crate::results_cache::key::{VersionCheck, table_checks};
use crate::results_cache::plan_key;
use crate::session::Session;
use crate::{QueryError, Result};

/// A lookup with more distinct values than this stays a semi-join.
pub(crate) const MAX_VALUES: usize = 1000;

/// Evaluates the uncorrelated `IN (subquery)` lookups of the filters planned for this
/// statement (`planned`, in the order they were planned), deepest first so that a
/// lookup reading a table whose own filter was evaluated reads it through the list.
pub(crate) async fn evaluate(
    engine: &Engine,
    session: &Session,
    state: &SessionState,
    planned: &[String],
) -> Result<()> {
    let rule = &session.rule;
    // A principal under a scan limit or a hard budget is refused by the statement's
    // estimate before anything is read: its lookups use kept values only.
    let (user, roles) = (&session.principal.user, &session.principal.roles);
    let may_read = crate::metering::max_scan_bytes(&engine.config.limits, user, roles).is_none()
        && !engine.recorder.budgets.has_hard(user, roles);
    for id in planned.iter().rev() {
        let Some(predicate) = rule.lookup_predicate(id) else {
            continue;
        };
        let mut subqueries = Vec::new();
        let _ = predicate.apply(|expr| {
            if let Expr::InSubquery(in_subquery) = expr
                && in_subquery.subquery.outer_ref_columns.is_empty()
            {
                subqueries.push(in_subquery.subquery.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        });
        if subqueries.is_empty() {
            continue;
        }
        let mut read = EvaluatedLookups::default();
        let mut lists: Vec<(Subquery, Vec<ScalarValue>)> = Vec::new();
        for subquery in subqueries {
            let (secured, evaluated) = rule
                .secure_lookup_subquery(&subquery.subquery)
                .map_err(|e| lookup_error(id, e))?;
            let Some((found, kept)) = subquery_values(
                session,
                &engine.lookup_values,
                &engine.registry,
                state,
                secured,
                may_read,
            )
            .await
            .map_err(|e| lookup_error(id, e))?
            else {
                continue;
            };
            engine
                .recorder
                .metrics
                .lookup_evaluated(found.is_some().then_some(kept));
            if let Some(found) = found {
                read.extend(evaluated);
                lists.push((subquery, found));
            }
        }
        if lists.is_empty() {
            continue;
        }
        let listed = predicate
            .transform_up(|expr| match expr {
                Expr::InSubquery(in_subquery) => {
                    match lists.iter().find(|(s, _)| *s == in_subquery.subquery) {
                        Some((_, found)) => Ok(Transformed::yes(in_list(
                            *in_subquery.expr,
                            found,
                            in_subquery.negated,
                        ))),
                        None => Ok(Transformed::no(Expr::InSubquery(in_subquery))),
                    }
                }
                other => Ok(Transformed::no(other)),
            })
            .map_err(|e| lookup_error(id, e))?;
        rule.set_evaluated_lookup(id, listed.data, read);
    }
    Ok(())
}

/// `expr [NOT] IN (values)`; with no values, what the subquery's empty result gives
/// every row (false, and true for NOT IN, even for a NULL `expr`).
fn in_list(expr: Expr, values: &[ScalarValue], negated: bool) -> Expr {
    if values.is_empty() {
        return lit(negated);
    }
    Expr::InList(InList::new(
        Box::new(expr),
        values.iter().cloned().map(lit).collect(),
        negated,
    ))
}

/// The distinct values of a secured lookup subquery, or `None` when there are more
/// than [`MAX_VALUES`], and whether they were kept ones (its tables still read the
/// same data); `None` when none are kept and `may_read` is false.
async fn subquery_values(
    session: &Session,
    kept: &LookupValues,
    registry: &CatalogRegistry,
    state: &SessionState,
    secured: LogicalPlan,
    may_read: bool,
) -> datafusion::error::Result<Option<(Option<Vec<ScalarValue>>, bool)>> {
    // Its distinct values, at most one more than a list takes.
    let plan = LogicalPlanBuilder::from(secured)
        .distinct()?
        .limit(0, Some(MAX_VALUES + 1))?
        .build()?;
    // Keyed before the analyzer, which only types what the key names already. Live
    // tables (and volatile functions) are read every time.
    let key = plan_key(
        &plan,
        state,
        registry,
        &crate::results_cache::key::session_options_digest(session, state),
    )
    .filter(|key| key.ttl.is_none())
    .map(|key| key.digest);
    if let Some(found) = key.and_then(|key| kept.get(&key)) {
        return Ok(Some((found.as_ref().clone(), true)));
    }
    if !may_read {
        return Ok(None);
    }
    // The session's analyzer without the security rule: the subquery is secured
    // already, as the policy reads it (typing rules as for any statement).
    let analyzer = Analyzer::with_rules(
        state
            .analyzer()
            .rules
            .iter()
            .filter(|rule| rule.name() != "secure_scans")
            .cloned()
            .collect(),
    );
    let analyzed = analyzer.execute_and_check(plan, state.config_options(), |_, _| {})?;
    let optimized = state.optimizer().optimize(analyzed, state, |_, _| {})?;
    let physical = state
        .query_planner()
        .create_physical_plan(&optimized, state)
        .await?;
    let batches =
        datafusion::physical_plan::collect(physical, Arc::new(TaskContext::from(state))).await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let found = match rows > MAX_VALUES {
        true => None,
        false => {
            let mut values = Vec::with_capacity(rows);
            for batch in &batches {
                let column = batch.column(0);
                for row in 0..batch.num_rows() {
                    values.push(ScalarValue::try_from_array(column, row)?);
                }
            }
            Some(values)
        }
    };
    if let Some(key) = key {
        kept.insert(key, Arc::new(found.clone()));
    }
    Ok(Some((found, false)))
}

/// A lookup that could not be read fails its statement, as its semi-join would.
fn lookup_error(id: &str, e: datafusion::error::DataFusionError) -> QueryError {
    let e = QueryError::from(e);
    QueryError::new(
        e.kind,
        format!(
            "the row filter {id} could not read its lookup: {}",
            e.message
        ),
    )
}

/// The checks that the tables this statement's evaluated lookups read still hold the
/// same data: a plan holding their values is reused (a prepared statement's kept plan,
/// a statement's cached result) only while they do. `None` when one cannot be checked
/// cheaply, and then such a plan is not reused.
pub(crate) fn evaluated_checks(
    session: &Session,
    state: &SessionState,
    registry: &CatalogRegistry,
) -> Option<Vec<VersionCheck>> {
    let mut checks = Vec::new();
    for plan in session.rule.evaluated_lookup_plans() {
        checks.extend(table_checks(&plan, state, registry)?);
    }
    Some(checks)
}

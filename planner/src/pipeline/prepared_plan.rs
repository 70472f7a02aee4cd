//! The secured plan of a prepared statement, kept for its next executions: pgjdbc,
//! Npgsql and ADBC execute one prepared statement again and again with new
//! parameters, and each execution used to rewrite, plan and analyze the SQL anew.
//!
//! From the second execution of a query on, its analyzed logical plan (secured by
//! the security rule, parameters still placeholders) is kept beside the statement.
//! An execution binds its parameters into that plan and goes straight to the
//! optimizer. The plan is used only while what it was planned under holds: the same
//! policy and semantic models (by identity), the same principal, session settings and
//! default schema, and every table's catalog still listing the metadata file the
//! plan read. Otherwise it is planned again and kept anew. Plans reading tables that
//! cannot be checked that cheaply (REST catalogs, Delta, live sources, catalog views)
//! are not kept: they are planned every time, as before.

use std::sync::Arc;

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use lakegate_security::policy::Policy;

use super::engine::Engine;
use super::logical::logical_plan;
use super::lookup_values::evaluated_checks;
use super::query_run::QueryRun;
use crate::results_cache::key::{VersionCheck, checks_hold, table_checks};
use crate::results_cache::statements::statement_key;
use crate::semantic_layer::LoadedModels;
use crate::session::Session;
use crate::statements::plan_slot::{KeptPlan, PlanSlot, Slot};

/// The plan an execution starts from: analyzed, its parameters still to bind.
pub(crate) struct Reused {
    pub(crate) plan: LogicalPlan,
    /// Whether it was planned for this execution (the first reuse or a re-plan).
    pub(crate) kept_now: bool,
    /// The checks of the tables its lookups read while it was planned.
    pub(crate) lookup_checks: Vec<VersionCheck>,
}

/// The kept plan for this execution of `statement`, planned and kept now when the
/// statement ran before and its kept plan (if any) no longer holds; `None` when
/// the statement is to be planned as usual.
pub(crate) async fn plan(
    slot: &PlanSlot,
    engine: &Engine,
    session: &Session,
    run: &QueryRun,
    statement: &DFStatement,
    policy: &Arc<Policy>,
    models: Option<&Arc<LoadedModels>>,
) -> Option<Reused> {
    let previous = {
        let mut state = slot.lock();
        match &*state {
            Slot::Fresh => {
                *state = Slot::Executed;
                return None;
            }
            Slot::Never => return None,
            Slot::Executed => None,
            Slot::Kept(kept) => Some(kept.clone()),
        }
    };
    let Some(context) = context(statement, session) else {
        slot.set(Slot::Never);
        return None;
    };
    if let Some(kept) = previous
        && holds(&kept, engine, context, policy, models).await
    {
        *run.access.lock().unwrap_or_else(|e| e.into_inner()) = kept.access.clone();
        return Some(Reused {
            plan: kept.plan.clone(),
            kept_now: false,
            lookup_checks: kept.lookup_checks.clone(),
        });
    }
    match keep(engine, session, run, statement, policy, models, context).await {
        Some(kept) => {
            let (plan, lookup_checks) = (kept.plan.clone(), kept.lookup_checks.clone());
            slot.set(Slot::Kept(Arc::new(kept)));
            Some(Reused {
                plan,
                kept_now: true,
                lookup_checks,
            })
        }
        None => {
            slot.set(Slot::Never);
            None
        }
    }
}

/// What planning a query depended on besides its tables and policy; `None` for
/// statements other than queries.
fn context(statement: &DFStatement, session: &Session) -> Option<[u8; 32]> {
    match statement {
        DFStatement::Statement(inner) if matches!(inner.as_ref(), SqlStatement::Query(_)) => {
            statement_key(statement, &[], session)
        }
        _ => None,
    }
}

/// Whether `kept` still holds for this execution.
async fn holds(
    kept: &KeptPlan,
    engine: &Engine,
    context: [u8; 32],
    policy: &Arc<Policy>,
    models: Option<&Arc<LoadedModels>>,
) -> bool {
    let same_models = match (&kept.models, models) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    };
    kept.context == context
        && Arc::ptr_eq(&kept.policy, policy)
        && same_models
        && checks_hold(&kept.checks, &engine.registry).await
}

/// Plans `statement` with its parameters unbound and analyzes it (the security rule
/// among the analyzer's rules), keeping the result if every table can be checked.
/// Anything that does not plan this way is planned as usual, where its errors are
/// reported as ever.
async fn keep(
    engine: &Engine,
    session: &Session,
    run: &QueryRun,
    statement: &DFStatement,
    policy: &Arc<Policy>,
    models: Option<&Arc<LoadedModels>>,
    context: [u8; 32],
) -> Option<KeptPlan> {
    let (plan, _) = logical_plan(engine, session, statement, true).await.ok()?;
    let state = session.ctx.state();
    let analyzed = state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})
        .ok()?;
    // Every placeholder must have a type for the bound values to be checked against.
    let params = analyzed.get_parameter_types().ok()?;
    if params.values().any(Option::is_none) {
        return None;
    }
    let mut checks = table_checks(&analyzed, &state, &engine.registry)?;
    // Values its row filters' lookups read while planning are in the plan too.
    let lookup_checks = evaluated_checks(session, &state, &engine.registry)?;
    checks.extend(lookup_checks.iter().cloned());
    Some(KeptPlan {
        plan: analyzed,
        policy: policy.clone(),
        models: models.cloned(),
        context,
        checks,
        lookup_checks,
        access: run.access(),
    })
}

//! Stage 2, plan: rewrites, time travel and semantic expansion, DataFusion's planning
//! with the security analyzer, then the optimized and physical plans.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DFStatement;

use crate::Result;
use crate::pipeline::engine::Engine;
use crate::pipeline::logical::logical_plan;
use crate::pipeline::lookup_values::evaluated_checks;
use crate::pipeline::query_run::QueryRun;
use crate::pipeline::result_schema::announced_schema;
use crate::results_cache::statements::{StatementEntry, statement_key};
use crate::results_cache::{CachedResult, LeaderGuard, Lookup, PlanKey, plan_key};
use crate::session::Session;
use crate::statements::plan_slot::PlanSlot;

/// A query planned for execution.
pub(crate) struct Planned {
    /// The command tag: `SELECT`, or `EXPLAIN` for EXPLAIN and EXPLAIN COST.
    pub(crate) tag: &'static str,
    /// Whether it is an EXPLAIN [ANALYZE] (not metered per operator, never cached).
    pub(crate) is_explain: bool,
    /// How its rows are made.
    pub(crate) rows: Rows,
    /// The schema its rows are streamed under, the one its description announced.
    pub(crate) announced: SchemaRef,
}

/// Where a planned query's rows come from.
pub(crate) enum Rows {
    /// The secured physical plan, run with its task context; its result is kept in
    /// the results cache under `cache_key`, when it has one.
    Run {
        physical: Arc<dyn ExecutionPlan>,
        task: Box<TaskContext>,
        cache_key: Option<PlanKey>,
        /// Held while this session computes the key's result for others waiting.
        leader: Option<LeaderGuard>,
    },
    /// The result of the same secured plan over the same data, from the results
    /// cache: neither optimized nor physically planned.
    Cached(Arc<CachedResult>),
}

impl Planned {
    /// The physical plan, unless the result comes from the cache.
    pub(crate) fn physical(&self) -> Option<&Arc<dyn ExecutionPlan>> {
        match &self.rows {
            Rows::Run { physical, .. } => Some(physical),
            Rows::Cached(_) => None,
        }
    }
}

/// Plans the statement against the tables' current snapshots, binds its parameters,
/// creates the table of a CREATE TABLE, and builds the physical plan — or finds the
/// result of its secured plan in the results cache (not for `estimate_only`, which
/// returns an estimate instead of rows).
pub(crate) async fn plan_query(
    engine: &Engine,
    session: &Session,
    run: &mut QueryRun,
    statement: &DFStatement,
    params: Vec<ScalarValue>,
    estimate_only: bool,
    slot: Option<&PlanSlot>,
) -> Result<Planned> {
    // What the statement's plan depends on besides its tables, captured before it
    // is planned: a reload while planning makes the next run plan again.
    let policy = engine.policy.current();
    let models = engine.semantic.as_ref().map(|layer| layer.current());
    let statement_key = match &engine.results {
        Some(_) if uses_results_cache(engine, session, estimate_only) => {
            statement_key(statement, &params, session)
        }
        _ => None,
    };
    if let (Some(cache), Some(key)) = (&engine.results, &statement_key)
        && let Some((entry, result)) = cache
            .statement_hit(key, &policy, models.as_ref(), &engine.registry)
            .await
    {
        engine.recorder.metrics.results_cache_unplanned_hit();
        *run.access.lock().unwrap_or_else(|e| e.into_inner()) = entry.access.clone();
        run.cache_hit = true;
        return Ok(Planned {
            tag: "SELECT",
            is_explain: false,
            rows: Rows::Cached(result),
            announced: entry.announced.clone(),
        });
    }
    // A prepared statement executed before binds its kept secured plan.
    let reused = match slot {
        Some(slot) if !estimate_only => {
            crate::pipeline::prepared_plan::plan(
                slot,
                engine,
                session,
                run,
                statement,
                &policy,
                models.as_ref(),
            )
            .await
        }
        _ => None,
    };
    // The checks of the tables the plan's lookups read while it was planned: `None`
    // when one cannot be checked cheaply.
    let lookup_checks;
    let (state, task, is_explain, stage) = match reused {
        Some(reused) => {
            lookup_checks = Some(reused.lookup_checks);
            engine.recorder.metrics.prepared_plan(reused.kept_now);
            let mut analyzed = reused.plan;
            if !params.is_empty() {
                analyzed = analyzed.with_param_values(params)?;
            }
            let state = session.ctx.state();
            let task = TaskContext::from(&state);
            (state, task, false, Stage::Analyzed(analyzed))
        }
        None => {
            let (plan, is_explain) =
                bound_plan(engine, session, run, statement, params, estimate_only).await?;
            let frame = session.ctx.execute_logical_plan(plan).await?;
            let task = frame.task_ctx();
            let (state, plan) = frame.into_parts();
            lookup_checks = evaluated_checks(session, &state, &engine.registry);
            (state, task, is_explain, Stage::Logical(plan))
        }
    };
    let tag = if is_explain { "EXPLAIN" } else { "SELECT" };
    let mut leader = None;
    let (optimized, cache_key) = match stage {
        Stage::Logical(plan) if is_explain => (state.optimize(&plan)?, None),
        stage => {
            // Analyzed (and so secured), the plan is what the results cache keys.
            let analyzed = match stage {
                Stage::Analyzed(analyzed) => analyzed,
                Stage::Logical(plan) => {
                    state
                        .analyzer()
                        .execute_and_check(plan, state.config_options(), |_, _| {})?
                }
            };
            let cache_key = if uses_results_cache(engine, session, estimate_only) {
                let options = crate::results_cache::key::session_options_digest(session, &state);
                plan_key(&analyzed, &state, &engine.registry, &options).map(|mut key| {
                    // Values its lookups read while planning are in the plan; the
                    // statement's entry holds while their tables do too.
                    key.checks = key.checks.zip(lookup_checks).map(|(mut checks, more)| {
                        checks.extend(more);
                        checks
                    });
                    key
                })
            } else {
                None
            };
            if let (Some(cache), Some(key)) = (&engine.results, &cache_key) {
                if let Some(statement_key) = statement_key
                    && key.checks.is_some()
                    && let Some(entry) = StatementEntry::new(
                        key,
                        policy,
                        models,
                        run.access(),
                        announced_schema(statement, &analyzed),
                    )
                {
                    cache.remember_statement(statement_key, entry);
                }
                let hit = match cache.lookup(key) {
                    Lookup::Hit(result) => Some(result),
                    // The same query is being computed by another session: its result,
                    // once cached, is this one's.
                    Lookup::Wait(done) => cache.wait_for(key, done).await,
                    Lookup::Lead(guard) => {
                        leader = Some(guard);
                        None
                    }
                };
                engine.recorder.metrics.results_cache(hit.is_some());
                if let Some(result) = hit {
                    run.cache_hit = true;
                    return Ok(Planned {
                        tag,
                        is_explain,
                        rows: Rows::Cached(result),
                        announced: announced_schema(statement, &analyzed),
                    });
                }
            }
            let optimized = state.optimizer().optimize(analyzed, &state, |_, _| {})?;
            (optimized, cache_key)
        }
    };
    // The optimized plan gives the schema the rows are streamed under.
    let announced = announced_schema(statement, &optimized);
    let physical = state
        .query_planner()
        .create_physical_plan(&optimized, &state)
        .await?;
    Ok(Planned {
        tag,
        is_explain,
        rows: Rows::Run {
            physical,
            task: Box::new(task),
            cache_key,
            leader,
        },
        announced,
    })
}

/// A plan on its way to the optimizer: as DataFusion planned it, or analyzed already.
enum Stage {
    Logical(LogicalPlan),
    Analyzed(LogicalPlan),
}

/// The statement planned with its parameters bound, and whether it is an EXPLAIN.
/// CREATE TABLE creates its table here (its rows are written as an INSERT).
async fn bound_plan(
    engine: &Engine,
    session: &Session,
    run: &mut QueryRun,
    statement: &DFStatement,
    params: Vec<ScalarValue>,
    estimate_only: bool,
) -> Result<(LogicalPlan, bool)> {
    let (mut plan, _) = logical_plan(engine, session, statement, !estimate_only).await?;
    if !params.is_empty() {
        plan = plan.with_param_values(params)?;
    }
    plan = crate::statements::writes::prepare(
        session,
        &engine.registry,
        &engine.policy,
        plan,
        &mut run.created,
    )
    .await?;
    // EXPLAIN reports analysis errors as plan text instead of failing; a denied object
    // must fail the statement, so the explained plan is checked here.
    let explained = match &plan {
        LogicalPlan::Explain(explain) => Some(explain.plan.as_ref()),
        LogicalPlan::Analyze(analyze) => Some(analyze.input.as_ref()),
        _ => None,
    };
    let is_explain = explained.is_some();
    if let Some(inner) = explained {
        let state = session.ctx.state();
        session
            .rule
            .analyze(inner.clone(), state.config_options())?;
    }
    Ok((plan, is_explain))
}

/// Whether this statement's result may come from (and go to) the results cache: the
/// cache is on, the session did not turn it off (`SET gateway.cache = off`), and the
/// statement wants rows, not an estimate.
fn uses_results_cache(engine: &Engine, session: &Session, estimate_only: bool) -> bool {
    let off = session
        .settings
        .get("gateway.cache")
        .is_ok_and(|v| v == "off");
    engine.results.is_some() && !off && !estimate_only
}

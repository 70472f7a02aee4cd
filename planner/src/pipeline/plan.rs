//! Stage 2, plan: rewrites, time travel and semantic expansion, DataFusion's planning
//! with the security analyzer, then the optimized and physical plans.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::{SessionState, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DFStatement;
use lakegate_pg_compat::catalog::{qualify_catalog_tables, rewrite_postgres_syntax};

use crate::pipeline::engine::Engine;
use crate::pipeline::prepared_plan::PlanSlot;
use crate::pipeline::query_run::QueryRun;
use crate::pipeline::result_schema::announced_schema;
use crate::results_cache::statements::{StatementEntry, statement_key};
use crate::results_cache::{CachedResult, LeaderGuard, Lookup, PlanKey, plan_key};
use crate::session::Session;
use crate::{ErrorKind, QueryError, Result};

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
            slot.plan(engine, session, run, statement, &policy, models.as_ref())
                .await?
        }
        _ => None,
    };
    let (state, task, is_explain, stage) = match reused {
        Some(reused) => {
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
            let (plan, is_explain) = bound_plan(engine, session, run, statement, params).await?;
            let frame = session.ctx.execute_logical_plan(plan).await?;
            let task = frame.task_ctx();
            let (state, plan) = frame.into_parts();
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
                plan_key(&analyzed, &state, &engine.registry)
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
) -> Result<(LogicalPlan, bool)> {
    let (mut plan, _) = logical_plan(engine, session, statement).await?;
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

/// The statement's logical plan, rewritten and secured for the session's principal,
/// and whether it read a semantic table: PostgreSQL's forms and catalog names
/// rewritten, versioned tables resolved to their snapshots, semantic tables expanded
/// into SQL over their base tables, then planned by DataFusion (whose analyzer runs
/// the security rule). Only the writes the gateway does are allowed.
pub(crate) async fn logical_plan(
    engine: &Engine,
    session: &Session,
    statement: &DFStatement,
) -> Result<(LogicalPlan, bool)> {
    let state = session.ctx.state();
    let (statement, expanded) = rewritten(engine, session, &state, statement).await?;
    let statement = &statement;
    if references_catalog_views(&state, statement) {
        // pg_settings reads the parameters as they are now; other statements skip it.
        session.pg_context.publish_settings(session.settings.all());
        engine
            .registry
            .refresh_listings()
            .await
            .map_err(|e| QueryError::new(ErrorKind::Internal, e.to_string()))?;
    }
    let plan = match state.statement_to_plan(statement.clone()).await {
        Ok(plan) => plan,
        Err(e) => return Err(denied_column(engine, session, &state, statement, e)),
    };
    // INSERT … and CREATE TABLE [AS] into Iceberg, and INSERT into Delta, are the
    // writes the gateway does.
    let writes = crate::statements::writes::is_supported_write(&plan);
    SQLOptions::new()
        .with_allow_ddl(writes)
        .with_allow_dml(writes)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| {
            QueryError::new(
                ErrorKind::ReadOnly,
                format!(
                    "cannot execute this statement: the gateway writes only INSERT and \
                     CREATE TABLE [AS] into Iceberg tables, and INSERT into Delta \
                     tables ({e})"
                ),
            )
        })?;
    Ok((plan, expanded))
}

/// The statement as DataFusion will plan it, and whether it read a semantic table:
/// pg_catalog names qualified, PostgreSQL's function and catalog forms rewritten,
/// versioned tables resolved to their snapshots, semantic tables expanded into SQL over
/// their base tables (secured like any query).
async fn rewritten(
    engine: &Engine,
    session: &Session,
    state: &SessionState,
    statement: &DFStatement,
) -> Result<(DFStatement, bool)> {
    if let Some(name) = lakegate_pg_compat::output_names::ambiguous_order_by(statement) {
        return Err(QueryError::new(
            ErrorKind::AmbiguousColumn,
            format!("ORDER BY \"{name}\" is ambiguous"),
        ));
    }
    let mut statement = statement.clone();
    let options = state.config_options();
    let current = state
        .catalog_list()
        .catalog(&options.catalog.default_catalog)
        .and_then(|c| c.schema(&options.catalog.default_schema));
    qualify_catalog_tables(&mut statement, |table| {
        current.as_ref().is_some_and(|s| s.table_exist(table))
    });
    // Functions first: the names of what they rewrite are then made unique with the
    // rest of the select list.
    lakegate_pg_compat::functions::rewrite_function_syntax(&mut statement);
    rewrite_postgres_syntax(&mut statement);
    // FOR VERSION|TIMESTAMP AS OF: each versioned table becomes its snapshot.
    crate::sql::time_travel::resolve(&mut statement, &session.ctx, &engine.registry).await?;
    let expanded = match &engine.semantic {
        Some(layer) => layer.expand(
            &mut statement,
            &options.catalog.default_catalog,
            &session.principal.user,
            &engine.policy,
        )?,
        None => false,
    };
    Ok((statement, expanded))
}

/// A column that is not found because the policy denies it is reported as a
/// privilege error (42501), not as a missing column.
fn denied_column(
    engine: &Engine,
    session: &Session,
    state: &datafusion::execution::SessionState,
    statement: &DFStatement,
    error: datafusion::error::DataFusionError,
) -> QueryError {
    use datafusion::common::SchemaError;
    let name = match error.find_root() {
        datafusion::error::DataFusionError::SchemaError(e, _) => match e.as_ref() {
            SchemaError::FieldNotFound { field, .. } => Some(field.name.clone()),
            _ => None,
        },
        _ => None,
    };
    let Some(name) = name else {
        return error.into();
    };
    let options = state.config_options();
    let tables = state
        .resolve_table_references(statement)
        .unwrap_or_default();
    for table in tables {
        let resolved = table.resolve(
            &options.catalog.default_catalog,
            &options.catalog.default_schema,
        );
        let full = format!(
            "{}.{}.{}",
            resolved.catalog, resolved.schema, resolved.table
        );
        if engine
            .policy
            .denies_column(&session.principal.user, &full, &name)
        {
            return QueryError::new(
                ErrorKind::InsufficientPrivilege,
                format!("permission denied for column {name} of table {full}"),
            );
        }
    }
    error.into()
}

fn references_catalog_views(
    state: &datafusion::execution::SessionState,
    statement: &DFStatement,
) -> bool {
    match state.resolve_table_references(statement) {
        Ok(refs) => refs
            .iter()
            .any(|r| matches!(r.schema(), Some("information_schema" | "pg_catalog"))),
        Err(_) => false,
    }
}

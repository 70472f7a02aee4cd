//! The `QueryService`: the one path every statement of every frontend takes. Its
//! `impl` is here alone: parse, describe, execute (routing each statement kind), and
//! the finish of each statement's run; queries run through [`crate::pipeline`].

mod runtime;

pub use runtime::worker_runtime;
mod session_context;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::execution::SendableRecordBatchStream;
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use lakegate_catalog::CatalogRegistry;
use lakegate_security::Principal;
use lakegate_security::audit::AuditLog;
use lakegate_security::policy::{Action, PolicyStore};

use crate::catalog_listing::Listing;
use crate::config::PlannerConfig;
use crate::pipeline::admit::statement_timeout;
use crate::pipeline::completion::CompletionStream;
use crate::pipeline::deadline::DeadlineStream;
use crate::pipeline::engine::Engine;
use crate::pipeline::estimate::{dry_run, estimate_schema};
use crate::pipeline::finish::{Metered, StatementRecorder, audited_when_done, finish_event_now};
use crate::pipeline::logical::logical_plan;
use crate::pipeline::query_run::QueryRun;
use crate::pipeline::result_schema::{ConformedStream, describe_schema};
use crate::pipeline::run_query;
use crate::query_registry::QueryRegistry;
use crate::session::cursors::{Cursors, close_spec, declare_spec, fetch_spec};
use crate::session::settings::Settings;
use crate::session::{ClientOrigin, Session};
use crate::sql::explain_cost::cost_target;
use crate::statements::copy::copy_spec;
use crate::statements::optimize::{is_optimize, optimize};
use crate::statements::prepared::{
    Outcome, Prepared, StatementKind, classify, inner_query, param_types, sql_statement,
};
use crate::statements::procedures::{RUNTIME_QUERIES, call};
use crate::statements::session_commands::{
    NameDefaults, session_command, show, show_all_schema, show_target, single_text_schema,
};
use crate::statements::transaction::transaction_command;
use crate::statements::writes::{WriteKind, undo_create, written_rows};
use crate::{ErrorKind, QueryError, Result};
use lakegate_pg_compat::listing::{ListedTable, TableFilter};
use session_context::session_context;

/// The one path every statement of every frontend takes.
#[derive(Debug)]
pub struct QueryService {
    /// What every statement's run shares.
    engine: Engine,
    /// This gateway's id (start time and a random suffix), the prefix of its query ids.
    instance: String,
    next_session: AtomicU64,
    next_query: AtomicU64,
}

impl QueryService {
    /// A service over the given catalogs, governed by `policy`. Starts the runtime
    /// that executes queries, with one thread per target partition.
    pub fn new(
        registry: Arc<CatalogRegistry>,
        policy: Arc<PolicyStore>,
        audit: Arc<AuditLog>,
        config: PlannerConfig,
    ) -> Result<Self> {
        crate::metering::install_spawn_hook();
        let mut options = datafusion::config::ConfigOptions::default();
        for (name, value) in &config.engine_options {
            options.set(name, value).map_err(|e| {
                QueryError::new(
                    ErrorKind::Internal,
                    format!("query.engine option {name:?} = {value:?}: {e}"),
                )
            })?;
        }
        let footer_cache_mb = config.metadata_cache_mb;
        let footers = lakegate_catalog::metadata_cache::CountedFooterCache::new(footer_cache_mb);
        let results = crate::results_cache::ResultCache::new(&config.results_cache).map(Arc::new);
        let runtime = runtime::shared_runtime(&config, footers.clone(), registry.object_stores())?;
        let metrics = Arc::new(crate::Metrics::with_caches(
            footers,
            results.clone(),
            runtime.memory_pool.clone(),
        ));
        let executor = crate::pipeline::executor::CpuExecutor::new(config.target_partitions)
            .map_err(|e| {
                QueryError::new(
                    ErrorKind::Internal,
                    format!("cannot start the query execution runtime: {e}"),
                )
            })?;
        let engine = Engine {
            registry,
            policy,
            recorder: Arc::new(StatementRecorder {
                audit,
                history: std::sync::OnceLock::new(),
                budgets: crate::BudgetLedger::new(config.budgets.clone()),
                metrics: metrics.clone(),
            }),
            admission: crate::metering::Admission::new(&config.limits, metrics).with_memory(
                runtime.memory_pool.clone(),
                config.memory.memory_limit,
                config.memory.admission_share(),
            ),
            config,
            runtime,
            queries: Arc::new(QueryRegistry::default()),
            executor,
            semantic: None,
            results,
            lookup_values: Default::default(),
            distributed: None,
        };
        Ok(Self {
            engine,
            instance: crate::pipeline::finish::instance_id(),
            next_session: AtomicU64::new(1),
            next_query: AtomicU64::new(1),
        })
    }

    /// Registers running queries in `running` (the registry `system.runtime.queries`
    /// reads) instead of a registry of its own.
    pub fn with_running(mut self, running: Arc<crate::QueryRegistry>) -> Self {
        self.engine.queries = running;
        self
    }

    /// Serves `layer`'s models as the tables of schema `semantic` of its catalog.
    pub fn with_semantic(mut self, layer: Arc<crate::SemanticLayer>) -> Self {
        self.engine.semantic = Some(layer);
        self
    }

    /// Runs large queries (or those whose session asks) on distributed workers.
    pub fn with_distributed(mut self, distribution: crate::distributed::Distribution) -> Self {
        self.engine.distributed = Some(Arc::new(distribution));
        self
    }

    /// This gateway's id: its start time and a random suffix, the prefix of its query
    /// ids (`20261127_014146_k3x9q` → `20261127_014146_k3x9q_00001`).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The queries queued and running now.
    pub fn running(&self) -> &Arc<crate::QueryRegistry> {
        &self.engine.queries
    }

    /// Records every finished query in `history` from now on.
    pub fn set_history(&self, history: Arc<crate::history::store::HistoryStore>) {
        let _ = self.engine.recorder.history.set(history);
    }

    /// Rebuilds the budgets' spending of this month from the query history, so that
    /// consumption survives a restart.
    pub async fn load_budgets(&self) -> Result<()> {
        let Some(history) = self.history() else {
            return Ok(());
        };
        if self.engine.recorder.budgets.is_empty() {
            return Ok(());
        }
        for (user, roles, day, cost) in
            crate::system_tables::history::spending_this_month(history).await?
        {
            self.engine
                .recorder
                .budgets
                .add_recovered(&user, &roles, cost, day);
        }
        Ok(())
    }

    /// Shares budget spending, `max_concurrent` slots and the running queries (listed
    /// and killed from any replica) with the other replicas of a deployment through
    /// `store`.
    pub fn share_with_replicas(&self, store: crate::SharedStore) {
        self.engine.recorder.budgets.share(store.clone());
        self.engine.admission.share(store.clone());
        self.engine
            .queries
            .share(store, self.instance().to_string());
    }

    /// The Prometheus metrics of the query path.
    pub fn metrics(&self) -> &Arc<crate::Metrics> {
        &self.engine.recorder.metrics
    }

    /// The query history, once set.
    pub fn history(&self) -> Option<&Arc<crate::history::store::HistoryStore>> {
        self.engine.recorder.history.get()
    }

    /// The catalogs this service plans against.
    pub fn registry(&self) -> &Arc<CatalogRegistry> {
        &self.engine.registry
    }

    /// The policy in force.
    pub fn policy(&self) -> &Arc<PolicyStore> {
        &self.engine.policy
    }

    /// Opens a session for an authenticated principal: its catalogs are the principal's
    /// view, and its analyzer secures every scan for the principal.
    pub fn open_session(&self, mut principal: Principal, client: ClientOrigin) -> Session {
        principal.roles = self.engine.policy.roles_of(&principal);
        let parts = session_context(&self.engine, &principal);
        Session {
            cancel: tokio_util::sync::CancellationToken::new(),
            id: self.next_session.fetch_add(1, Ordering::Relaxed),
            principal,
            client,
            settings: Settings::new(&self.engine.config.default_schema),
            ctx: parts.ctx,
            rule: parts.rule,
            report: parts.report,
            transaction: None,
            cursors: Cursors::default(),
            pg_context: parts.pg_context,
            notices: Default::default(),
            lookup_plans: Default::default(),
            options_digest: Default::default(),
        }
    }

    /// Splits SQL text into statements (PostgreSQL dialect). Text that does not parse
    /// is audited as an error.
    pub fn parse(&self, session: &Session, sql: &str) -> Result<Vec<DFStatement>> {
        match crate::sql::parse::split(sql) {
            Ok(statements) => Ok(statements),
            Err(error) => {
                session.clear_access();
                self.record_failure(session, sql, &error);
                Err(error)
            }
        }
    }

    /// Describes a statement: its kind, parameter types and result schema.
    /// Queries are planned here (and again at execution, against fresh snapshots).
    pub async fn prepare(
        &self,
        session: &Session,
        sql: &str,
        statement: DFStatement,
    ) -> Result<Prepared> {
        session.clear_access();
        match self.describe(session, sql, statement).await {
            Ok(prepared) => Ok(prepared),
            Err(error) => {
                self.record_failure(session, sql, &error);
                Err(error)
            }
        }
    }

    /// Classifies a statement for immediate execution without describing it: the simple
    /// protocol needs no result description before the rows, so the statement is
    /// planned once, by [`QueryService::execute`].
    pub fn prepare_to_run(&self, sql: &str, statement: DFStatement) -> Prepared {
        let kind = classify(&statement);
        let schema = match kind {
            StatementKind::Show => Some(match show_target(&statement) {
                Some(name) if name.eq_ignore_ascii_case("all") => show_all_schema(),
                Some(name) => single_text_schema(&Settings::canonical(&name)),
                None => single_text_schema("setting"),
            }),
            _ => None,
        };
        Prepared {
            sql: sql.to_string(),
            statement,
            kind,
            param_types: Vec::new(),
            schema,
            plans: Default::default(),
        }
    }

    async fn describe(
        &self,
        session: &Session,
        sql: &str,
        statement: DFStatement,
    ) -> Result<Prepared> {
        let kind = classify(&statement);
        let (param_types, schema) = match kind {
            StatementKind::Query => {
                let target = cost_target(&statement);
                let (plan, _) =
                    logical_plan(&self.engine, session, target.unwrap_or(&statement), false)
                        .await?;
                // Check grants now, so a denied table is refused at Parse/Describe
                // and never described.
                let state = session.ctx.state();
                session.rule.analyze(plan.clone(), state.config_options())?;
                // The schema execution will stream: that of the secured, optimized plan.
                let schema = if target.is_some() || dry_run(session) {
                    estimate_schema()
                } else {
                    describe_schema(&state, &statement, &plan)?
                };
                (param_types(&plan)?, Some(schema))
            }
            StatementKind::Show => {
                let schema = match show_target(&statement) {
                    Some(name) if name.eq_ignore_ascii_case("all") => show_all_schema(),
                    Some(name) => single_text_schema(&Settings::canonical(&name)),
                    None => single_text_schema("setting"),
                };
                (Vec::new(), Some(schema))
            }
            // DECLARE and COPY return no row description; their parameters are the
            // inner query's.
            StatementKind::Declare | StatementKind::Copy => {
                let inner = inner_query(&statement, kind)?;
                let (plan, _) = logical_plan(&self.engine, session, &inner, false).await?;
                let state = session.ctx.state();
                session.rule.analyze(plan.clone(), state.config_options())?;
                (param_types(&plan)?, None)
            }
            StatementKind::Fetch => {
                let (name, _) = fetch_spec(sql_statement(&statement)?)?;
                (Vec::new(), Some(session.cursors.schema(&name)?))
            }
            // A write returns no rows; its grants are checked now, as a query's.
            StatementKind::Write => {
                let (plan, _) = logical_plan(&self.engine, session, &statement, false).await?;
                let state = session.ctx.state();
                session.rule.analyze(plan.clone(), state.config_options())?;
                (param_types(&plan)?, None)
            }
            _ => (Vec::new(), None),
        };
        Ok(Prepared {
            sql: sql.to_string(),
            statement,
            kind,
            param_types,
            schema,
            plans: Default::default(),
        })
    }

    /// Executes a prepared statement with positional parameter values.
    pub async fn execute(
        &self,
        session: &mut Session,
        prepared: &Prepared,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome> {
        let mut run = self.next_run(session);
        let result = self
            .execute_inner(session, &mut run, prepared, params)
            .await;
        self.finish(session, run, prepared, result).await
    }

    /// Stage 5 of a statement's run: its audit record now, or when its result stream
    /// ends, with its metered figures, history record and budget spending.
    async fn finish(
        &self,
        session: &mut Session,
        run: QueryRun,
        prepared: &Prepared,
        result: Result<Outcome>,
    ) -> Result<Outcome> {
        let recorder = &self.engine.recorder;
        let metered = run.meter.clone().map(|meter| Metered {
            meter,
            prices: self.engine.config.prices.clone(),
            show_cost: session
                .settings
                .get("gateway.show_cost")
                .is_ok_and(|v| v == "on"),
            notices: run.notices.clone(),
            statistics: self.engine.config.statistics,
        });
        let mut event = recorder.event(session, &run.id, run.access(), &prepared.sql);
        event.cache_hit = run.cache_hit;
        let started = run.started;
        let audited = |stream, event, metered| -> SendableRecordBatchStream {
            Box::pin(CompletionStream::new(
                stream,
                audited_when_done(recorder.clone(), event, started, metered),
            ))
        };
        match result {
            // FETCH reads rows of a cursor whose DECLARE is audited with them.
            Ok(outcome @ Outcome::Rows { .. }) if prepared.kind == StatementKind::Fetch => {
                event.decision = "allow".into();
                finish_event_now(recorder, event, started, "ok").await?;
                Ok(outcome)
            }
            Ok(Outcome::Rows { tag, stream }) => {
                let stream = audited(stream, event, metered);
                match prepared.kind {
                    StatementKind::Declare => declare_cursor(session, prepared, stream),
                    _ => Ok(Outcome::Rows { tag, stream }),
                }
            }
            Ok(Outcome::Copy { stream, options }) => Ok(Outcome::Copy {
                stream: audited(stream, event, metered),
                options,
            }),
            Ok(outcome) => {
                event.decision = "allow".into();
                finish_event_now(recorder, event, started, "ok").await?;
                Ok(outcome)
            }
            Err(error) => {
                // What a refused or failed query read (manifests for its estimate).
                if let Some(metered) = metered {
                    event.cost = Some(metered.meter.figures(0, 0, &metered.prices).into());
                }
                recorder.record_failure(event, started, &error);
                Err(error)
            }
        }
    }

    /// A run of the session's next statement, with the next query id.
    fn next_run(&self, session: &Session) -> QueryRun {
        let n = self.next_query.fetch_add(1, Ordering::Relaxed);
        QueryRun::new(session, format!("{}_{n:05}", self.instance))
    }

    /// Records a statement that failed before it was executed (parsing, describing).
    fn record_failure(&self, session: &Session, sql: &str, error: &QueryError) {
        let run = self.next_run(session);
        let event = self
            .engine
            .recorder
            .event(session, &run.id, run.access(), sql);
        self.engine
            .recorder
            .record_failure(event, run.started, error);
    }

    /// Records a metadata request (a Flight SQL `CommandGet*`) answered from the
    /// session's catalog view: what was asked and how many rows it listed.
    pub async fn audit_metadata(&self, session: &Session, request: &str, rows: u64) -> Result<()> {
        session.clear_access();
        let run = self.next_run(session);
        let mut event = self
            .engine
            .recorder
            .event(session, &run.id, run.access(), request);
        event.decision = "allow".into();
        event.rows = rows;
        finish_event_now(&self.engine.recorder, event, run.started, "ok").await
    }

    /// Catalogs the session sees, sorted: those with at least one schema holding a
    /// table the principal may read (the system schemas every catalog has aside).
    pub fn list_catalogs(&self, session: &Session) -> Vec<String> {
        self.listing().list_catalogs(session)
    }

    /// (catalog, schema) pairs the session sees, sorted.
    pub async fn list_schemas(
        &self,
        session: &Session,
        catalog: Option<&str>,
        schema_pattern: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        self.listing()
            .list_schemas(session, catalog, schema_pattern)
            .await
    }

    /// Tables the session sees, narrowed by `filter`, with the columns the principal
    /// may read when `columns` is set.
    pub async fn list_tables(
        &self,
        session: &Session,
        filter: &TableFilter,
        columns: bool,
    ) -> Result<Vec<ListedTable>> {
        self.listing().list_tables(session, filter, columns).await
    }

    fn listing(&self) -> Listing<'_> {
        Listing {
            registry: &self.engine.registry,
        }
    }

    /// Routes a statement: queries through the pipeline, session statements answered
    /// from the statement.
    async fn execute_inner(
        &self,
        session: &mut Session,
        run: &mut QueryRun,
        prepared: &Prepared,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome> {
        session.clear_access();
        // Nothing runs unaudited: while the trail cannot be written every statement is
        // refused (its own record is one more attempt to write it).
        self.engine.recorder.audit.health().map_err(|why| {
            QueryError::new(
                ErrorKind::IoError,
                format!("{why}; statements are refused until it can be written"),
            )
        })?;
        let statement = &prepared.statement;
        match prepared.kind {
            StatementKind::Query => self.run_select(session, run, prepared, params).await,
            StatementKind::Show => show_outcome(session, prepared),
            StatementKind::Session => {
                let names = NameDefaults {
                    registry: &self.engine.registry,
                    catalog: &self.engine.config.default_catalog,
                    schema: &self.engine.config.default_schema,
                };
                session_command(&names, session, statement)
            }
            StatementKind::Begin
            | StatementKind::Commit
            | StatementKind::Rollback
            | StatementKind::Savepoint
            | StatementKind::Release
            | StatementKind::RollbackTo => transaction_command(session, sql_statement(statement)?),
            StatementKind::Declare => self.run_declare(session, run, prepared, params).await,
            StatementKind::Fetch => fetch_outcome(session, statement),
            StatementKind::Close => {
                match close_spec(sql_statement(statement)?) {
                    Some(name) => session.cursors.close(&name)?,
                    None => session.cursors.close_all(),
                }
                Ok(Outcome::Command("CLOSE CURSOR".into()))
            }
            StatementKind::Deallocate => deallocate_outcome(statement),
            StatementKind::Call => self.run_call(session, statement).await,
            StatementKind::Write => self.run_write(session, run, prepared, params).await,
            StatementKind::Copy => {
                let spec = copy_spec(sql_statement(statement)?)?;
                let query = DFStatement::Statement(Box::new(spec.query.clone()));
                let (_, stream) =
                    run_query(&self.engine, session, run, prepared, &query, params, true).await?;
                let options = spec.options_for(&stream.schema())?;
                Ok(Outcome::Copy { stream, options })
            }
        }
    }

    /// A query: its rows, under the schema the statement was described with.
    async fn run_select(
        &self,
        session: &mut Session,
        run: &mut QueryRun,
        prepared: &Prepared,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome> {
        let statement = &prepared.statement;
        let (tag, mut stream) = run_query(
            &self.engine,
            session,
            run,
            prepared,
            statement,
            params,
            true,
        )
        .await?;
        if let Some(schema) = &prepared.schema {
            stream = ConformedStream::wrap(stream, schema.clone())?;
        }
        Ok(Outcome::Rows { tag, stream })
    }

    /// DECLARE name CURSOR FOR query: the query starts; its rows wait in the cursor.
    async fn run_declare(
        &self,
        session: &mut Session,
        run: &mut QueryRun,
        prepared: &Prepared,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome> {
        let (spec, query) = declare_spec(sql_statement(&prepared.statement)?)?;
        if !spec.hold && session.transaction.is_none() {
            return Err(QueryError::new(
                ErrorKind::NoActiveTransaction,
                "DECLARE CURSOR can only be used in transaction blocks",
            ));
        }
        if session.cursors.schema(&spec.name).is_ok() {
            return Err(QueryError::new(
                ErrorKind::DuplicateCursor,
                format!("cursor \"{}\" already exists", spec.name),
            ));
        }
        let query = DFStatement::Statement(Box::new(query));
        // A cursor's rows are read over many statements: the timeout applies to each
        // FETCH, not to the cursor's lifetime.
        let (_, stream) =
            run_query(&self.engine, session, run, prepared, &query, params, false).await?;
        Ok(Outcome::Rows {
            tag: "DECLARE CURSOR",
            stream,
        })
    }

    /// CALL: `system.optimize` compacts a table; the others are procedures.rs's.
    async fn run_call(&self, session: &mut Session, statement: &DFStatement) -> Result<Outcome> {
        let SqlStatement::Call(function) = sql_statement(statement)? else {
            return Err(QueryError::new(ErrorKind::Internal, "not a CALL"));
        };
        let tag = if is_optimize(function) {
            optimize(
                session,
                function,
                &self.engine.registry,
                &self.engine.policy,
            )
            .await?
        } else {
            let (policy, user) = (&self.engine.policy, &session.principal);
            call(session, function, &self.engine.queries, || {
                policy.permits(user, Action::Administer(RUNTIME_QUERIES))
            })
            .await?
        };
        Ok(Outcome::Command(tag))
    }

    /// INSERT or CREATE TABLE [AS]: the rows written, or the created table dropped if
    /// they fail.
    async fn run_write(
        &self,
        session: &mut Session,
        run: &mut QueryRun,
        prepared: &Prepared,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome> {
        let statement = &prepared.statement;
        let kind = WriteKind::of(statement)
            .ok_or_else(|| QueryError::new(ErrorKind::Internal, "not an INSERT or CREATE TABLE"))?;
        let written = async {
            let (_, stream) = run_query(
                &self.engine,
                session,
                run,
                prepared,
                statement,
                params,
                true,
            )
            .await?;
            written_rows(stream).await
        }
        .await;
        match written {
            Ok(rows) => Ok(Outcome::Modified {
                tag: kind.tag(rows),
                rows,
            }),
            Err(error) => {
                if let Some(created) = run.created.take() {
                    undo_create(&self.engine.registry, created).await;
                }
                Err(error)
            }
        }
    }
}

/// SHOW: one row, under the schema described.
fn show_outcome(session: &Session, prepared: &Prepared) -> Result<Outcome> {
    let schema = prepared
        .schema
        .clone()
        .unwrap_or_else(|| single_text_schema("setting"));
    let batch = show(session, &prepared.statement, schema.clone())?;
    let stream = MemoryStream::try_new(vec![batch], schema, None)?;
    Ok(Outcome::Rows {
        tag: "SHOW",
        stream: Box::pin(stream),
    })
}

/// FETCH: the next rows of a cursor, within this statement's timeout.
fn fetch_outcome(session: &mut Session, statement: &DFStatement) -> Result<Outcome> {
    let (name, count) = fetch_spec(sql_statement(statement)?)?;
    let rows = session.cursors.fetch(&name, count)?;
    let limit = statement_timeout(session)?.map(|t| (tokio::time::Instant::now() + t, t));
    Ok(Outcome::Rows {
        tag: "FETCH",
        stream: Box::pin(DeadlineStream::new(
            rows,
            limit,
            session.cancel.clone(),
            Default::default(),
        )),
    })
}

/// DEALLOCATE [PREPARE] name | ALL: the frontend drops the statements.
fn deallocate_outcome(statement: &DFStatement) -> Result<Outcome> {
    match sql_statement(statement)? {
        SqlStatement::Deallocate { name, .. }
            if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") =>
        {
            Ok(Outcome::Deallocate(None))
        }
        SqlStatement::Deallocate { name, .. } => Ok(Outcome::Deallocate(Some(name.value.clone()))),
        _ => Err(QueryError::new(ErrorKind::Internal, "not a DEALLOCATE")),
    }
}

/// Keeps a DECLAREd query's (audited) rows in the session's cursor.
fn declare_cursor(
    session: &mut Session,
    prepared: &Prepared,
    stream: SendableRecordBatchStream,
) -> Result<Outcome> {
    let (spec, _) = declare_spec(sql_statement(&prepared.statement)?)?;
    let level = session
        .transaction
        .as_ref()
        .map_or(0, |t| t.savepoints.len());
    session.cursors.declare(&spec, stream, level)?;
    Ok(Outcome::Command("DECLARE CURSOR".into()))
}

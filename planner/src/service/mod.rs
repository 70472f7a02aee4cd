//! The `QueryService`: parse → route session statements → plan → execute as a stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::{Analyzer, AnalyzerRule, Optimizer};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use lakegate_catalog::{CatalogRegistry, CatalogType};
use lakegate_security::Principal;
use lakegate_security::audit::{AuditEvent, AuditLog};
use lakegate_security::policy::{ColumnAction, PolicyStore};
use lakegate_security::rules::{
    AccessReport, GatewayQueryPlanner, PushSafePredicatesThroughBarrier, SecureScans,
};
use lakegate_security::view::SecuredCatalog;
use std::sync::Mutex;

use crate::pipeline::finish::Trail;
use crate::pipeline::finish::{ending_name, finish_event};
use crate::pipeline::cancel_points::CancelPoints;
use crate::pipeline::completion::HoldingStream;
use crate::pipeline::completion::{CompletionStream, Ending, OnFinish};
use crate::statements::copy::{CopyOptions, copy_spec};
use crate::session::cursors::{Cursors, close_spec, declare_spec, fetch_spec};
use crate::pipeline::deadline::{DeadlineStream, canceled_error, timeout_error};
use crate::pipeline::estimate::{cost_target, dry_run, estimate_batch, estimate_schema};
use crate::metering::QueryMeter;
use crate::pg_catalog::{
    PgCatalogContext, WithPgCatalog, qualify_catalog_tables, register_functions,
    rewrite_postgres_syntax,
};
use crate::pipeline::result_schema::{ConformedStream, announced_schema, describe_schema};
use crate::session::{ClientOrigin, Session};
use crate::statements::session_commands::{show, show_all_schema, show_target, single_text_schema};
use crate::session::settings::Settings;
use crate::{ErrorKind, QueryError, Result};

/// DataFusion options the gateway sets unless `[query.engine]` says otherwise, each
/// chosen by measurement (`benches/benches/tpch.rs`, SF 1, two cores).
///
/// Build sides up to 32 MiB or a million rows are collected once and shared by every
/// partition (a broadcast join) instead of both sides being hash-repartitioned: TPC-H's
/// dimension joins (nation, supplier, a filtered orders) skip a repartition of the fact
/// side. Medians of three runs of three timings each: Q7 3.52x → 2.56x DuckDB's time,
/// Q5 3.87x → 3.21x, the other queries within the noise; all 22 2.07x → 2.01x.
pub const ENGINE_DEFAULTS: [(&str, &str); 2] = [
    (
        "datafusion.optimizer.hash_join_single_partition_threshold",
        "33554432",
    ),
    (
        "datafusion.optimizer.hash_join_single_partition_threshold_rows",
        "1048576",
    ),
];

/// Planner settings from the gateway configuration.
#[derive(Debug, Clone)]
pub struct PlannerConfig {
    /// Catalog that two-part and one-part names resolve in.
    pub default_catalog: String,
    /// Schema that one-part names resolve in.
    pub default_schema: String,
    /// DataFusion partitions per query (defaults to the number of cores).
    pub target_partitions: usize,
    /// Rows per record batch.
    pub batch_size: usize,
    /// Iceberg tables read by DataFusion's Parquet scan (catalog's `NativeIcebergScan`).
    pub native_iceberg_scan: bool,
    /// Inner joins of three or more sized tables in the order estimated cheapest
    /// (`join_order.rs`); off: in the order written.
    pub join_reordering: bool,
    /// Memory for the cache of Parquet footers and page indexes, in MiB.
    pub metadata_cache_mb: u64,
    /// DataFusion options (name, value) set on every session before the gateway's own.
    pub engine_options: Vec<(String, String)>,
    /// Prices that turn each query's figures into cost.
    pub prices: crate::PriceList,
    /// Meter every query (bytes read, CPU, memory, cost). Off only to measure what
    /// metering itself costs.
    pub metering: bool,
    /// Per-user and per-role limits on one query.
    pub limits: Vec<crate::QueryLimit>,
    /// Daily and monthly cost budgets per user and per role.
    pub budgets: Vec<crate::Budget>,
}

/// What kind of statement a [`Prepared`] holds; frontends use it for command tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// A query or EXPLAIN: returns rows.
    Query,
    /// SHOW: returns one row.
    Show,
    /// SET / RESET / DISCARD and other session commands.
    Session,
    /// BEGIN / START TRANSACTION.
    Begin,
    /// COMMIT / END.
    Commit,
    /// ROLLBACK / ABORT.
    Rollback,
    /// SAVEPOINT name.
    Savepoint,
    /// RELEASE [SAVEPOINT] name.
    Release,
    /// ROLLBACK TO [SAVEPOINT] name: allowed in a failed transaction block.
    RollbackTo,
    /// DECLARE name CURSOR FOR query.
    Declare,
    /// FETCH n FROM cursor: returns rows.
    Fetch,
    /// CLOSE cursor | ALL.
    Close,
    /// COPY … TO STDOUT: returns COPY data.
    Copy,
    /// DEALLOCATE [PREPARE] name | ALL: drops protocol-level prepared statements.
    Deallocate,
    /// CALL procedure(…): the gateway's procedures (`system.kill_query`).
    Call,
    /// INSERT or CREATE TABLE [AS]: writes into an Iceberg table, one snapshot.
    Write,
}

/// A parsed and described statement, ready to be executed (possibly many times).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The statement's text, for logs.
    pub sql: String,
    statement: DFStatement,
    /// What it is.
    pub kind: StatementKind,
    /// Parameter types in `$n` order, `None` where they cannot be inferred.
    pub param_types: Vec<Option<DataType>>,
    /// The result's schema, or `None` when the statement returns no rows.
    pub schema: Option<SchemaRef>,
}

/// The result of executing one statement.
pub enum Outcome {
    /// Rows, streamed.
    Rows {
        /// Command tag (`SELECT`, `SHOW`, `EXPLAIN`).
        tag: &'static str,
        /// The stream; its schema equals the prepared schema.
        stream: SendableRecordBatchStream,
    },
    /// A command without rows, with its tag (`SET`, `RESET`, `DISCARD ALL`).
    Command(String),
    /// A write, with its tag (`INSERT 0 5`) and the rows it wrote.
    Modified {
        /// The PostgreSQL command tag.
        tag: String,
        /// Rows written.
        rows: u64,
    },
    /// A transaction started.
    Begin,
    /// A transaction ended with COMMIT.
    Commit,
    /// A transaction ended with ROLLBACK.
    Rollback,
    /// ROLLBACK TO SAVEPOINT: the block is usable again, even after an error.
    RollbackTo,
    /// DEALLOCATE: the frontend drops this prepared statement (`None`: all of them).
    Deallocate(Option<String>),
    /// COPY TO STDOUT: rows to encode in a COPY format.
    Copy {
        /// The rows; their schema says how many columns each has.
        stream: SendableRecordBatchStream,
        /// Text, CSV or binary, with the statement's options.
        options: CopyOptions,
    },
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Rows { tag, .. } => write!(f, "Rows({tag})"),
            Outcome::Command(tag) => write!(f, "Command({tag})"),
            Outcome::Modified { tag, .. } => write!(f, "Modified({tag})"),
            Outcome::Begin => write!(f, "Begin"),
            Outcome::Commit => write!(f, "Commit"),
            Outcome::Rollback => write!(f, "Rollback"),
            Outcome::RollbackTo => write!(f, "RollbackTo"),
            Outcome::Deallocate(name) => write!(f, "Deallocate({name:?})"),
            Outcome::Copy { options, .. } => write!(f, "Copy({:?})", options.format),
        }
    }
}

/// The one path every statement of every frontend takes.
#[derive(Debug)]
pub struct QueryService {
    pub(crate) registry: Arc<CatalogRegistry>,
    pub(crate) policy: Arc<PolicyStore>,
    pub(crate) audit: Arc<Trail>,
    /// This gateway's id (start time and a random suffix), the prefix of its query ids.
    pub(crate) instance: String,
    pub(crate) config: PlannerConfig,
    pub(crate) runtime: Arc<RuntimeEnv>,
    pub(crate) next_session: AtomicU64,
    /// Slots and queues of the concurrency limits.
    pub(crate) admission: crate::metering::Admission,
    pub(crate) next_query: AtomicU64,
    /// The queries queued and running now.
    pub(crate) running: Arc<crate::RunningQueries>,
    /// Where plans execute: threads apart from those serving connections.
    pub(crate) executor: crate::pipeline::executor::CpuExecutor,
    /// Semantic models served as tables, when configured.
    pub(crate) semantic: Option<Arc<crate::SemanticLayer>>,
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
        let metrics = Arc::new(crate::Metrics::with_footer_cache(footers.clone()));
        let executor =
            crate::pipeline::executor::CpuExecutor::new(config.target_partitions).map_err(|e| {
                QueryError::new(
                    ErrorKind::Internal,
                    format!("cannot start the query execution runtime: {e}"),
                )
            })?;
        let stores = registry.object_stores();
        Ok(Self {
            registry,
            policy,
            audit: Arc::new(Trail {
                audit,
                history: std::sync::OnceLock::new(),
                budgets: crate::BudgetLedger::new(config.budgets.clone()),
                metrics: metrics.clone(),
            }),
            instance: crate::pipeline::finish::instance_id(),
            admission: crate::metering::Admission::new(&config.limits, metrics),
            config,
            // No listing cache: files added to a files catalog are read by the next
            // statement, as Iceberg snapshots are.
            runtime: datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                .with_cache_manager(
                    datafusion::execution::cache::cache_manager::CacheManagerConfig::default()
                        .with_list_files_cache_limit(0)
                        .with_file_metadata_cache(Some(footers))
                        .with_metadata_cache_limit(
                            usize::try_from(footer_cache_mb.saturating_mul(1 << 20))
                                .unwrap_or(usize::MAX),
                        ),
                )
                .build_arc()
                .map_err(|e| QueryError::new(ErrorKind::Internal, e.to_string()))
                .inspect(|runtime| {
                    // The files catalogs' stores (S3 buckets), for planning and for
                    // queries run without metering.
                    for (url, store) in stores {
                        runtime.register_object_store(&url, store);
                    }
                })?,
            next_session: AtomicU64::new(1),
            next_query: AtomicU64::new(1),
            running: Arc::new(crate::RunningQueries::default()),
            executor,
            semantic: None,
        })
    }

    /// Registers running queries in `running` (the registry `system.runtime.queries`
    /// reads) instead of a registry of its own.
    pub fn with_running(mut self, running: Arc<crate::RunningQueries>) -> Self {
        self.running = running;
        self
    }

    /// Serves `layer`'s models as the tables of schema `semantic` of its catalog.
    pub fn with_semantic(mut self, layer: Arc<crate::SemanticLayer>) -> Self {
        self.semantic = Some(layer);
        self
    }

    /// This gateway's id: its start time and a random suffix, the prefix of its query
    /// ids (`20261127_014146_k3x9q` → `20261127_014146_k3x9q_00001`).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The queries queued and running now.
    pub fn running(&self) -> &Arc<crate::RunningQueries> {
        &self.running
    }

    /// Records every finished query in `history` from now on.
    pub fn set_history(&self, history: Arc<crate::history::store::HistoryStore>) {
        let _ = self.audit.history.set(history);
    }

    /// Rebuilds the budgets' spending of this month from the query history, so that
    /// consumption survives a restart.
    pub async fn load_budgets(&self) -> Result<()> {
        let Some(history) = self.history() else {
            return Ok(());
        };
        if self.audit.budgets.is_empty() {
            return Ok(());
        }
        for (user, roles, day, cost) in history.spending_this_month().await? {
            self.audit.budgets.add(&user, &roles, cost, day);
        }
        Ok(())
    }

    /// The Prometheus metrics of the query path.
    pub fn metrics(&self) -> &Arc<crate::Metrics> {
        &self.audit.metrics
    }

    /// The query history, once set.
    pub fn history(&self) -> Option<&Arc<crate::history::store::HistoryStore>> {
        self.audit.history.get()
    }

    /// The catalogs this service plans against.
    pub fn registry(&self) -> &Arc<CatalogRegistry> {
        &self.registry
    }

    /// The policy in force.
    pub fn policy(&self) -> &Arc<PolicyStore> {
        &self.policy
    }

    /// Opens a session for an authenticated principal: its catalogs are the principal's
    /// view, and its analyzer secures every scan for the principal.
    pub fn open_session(&self, mut principal: Principal, client: ClientOrigin) -> Session {
        principal.roles = self.policy.current().roles(&principal.user);
        let mut config = SessionConfig::new();
        for (name, value) in ENGINE_DEFAULTS.iter().map(|(n, v)| (*n, *v)).chain(
            self.config
                .engine_options
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        ) {
            // Checked when the service started.
            if let Err(error) = config.options_mut().set(name, value) {
                tracing::warn!(%error, name, "engine option not set");
            }
        }
        let mut config = config
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(
                &self.config.default_catalog,
                &self.config.default_schema,
            )
            .with_target_partitions(self.config.target_partitions.max(1))
            .with_batch_size(self.config.batch_size.max(1));
        // PostgreSQL's `timestamptz` is UTC-based; sessions run in UTC.
        config.options_mut().execution.time_zone = Some("+00:00".into());
        // `1.5` is a `numeric` constant in PostgreSQL (exact), not a double.
        config.options_mut().sql_parser.parse_float_as_decimal = true;
        let config = config.with_extension(Arc::new(lakegate_catalog::iceberg::NativeIcebergScan(
            self.config.native_iceberg_scan,
        )));
        let report = Arc::new(Mutex::new(AccessReport::default()));
        let rule = Arc::new(SecureScans::new(
            principal.clone(),
            self.policy.clone(),
            report.clone(),
        ));
        // The security rule runs before type coercion, so injected filters and masks
        // are coerced like the user's own expressions.
        let mut rules = Analyzer::new().rules;
        let at = rules
            .iter()
            .position(|r| r.name() == "type_coercion")
            .unwrap_or(0);
        rules.insert(at, rule.clone());
        // Integer literals are `integer` when they fit, as in PostgreSQL: before type
        // coercion, which widens them where they meet wider types.
        rules.insert(at + 1, Arc::new(crate::pg_functions::IntegerLiterals));
        // Date arithmetic typed as PostgreSQL types it (`date - date` an integer,
        // `date + interval` a timestamp): before coercion fits the rest to it.
        rules.insert(at + 2, Arc::new(crate::pg_functions::PostgresDates));
        // PostgreSQL's arithmetic (overflow, casts to integers and text): right
        // after type coercion has given both sides their types, before folding.
        let coerced = rules
            .iter()
            .position(|r| r.name() == "type_coercion")
            .map_or(rules.len(), |i| i + 1);
        rules.insert(coerced, Arc::new(crate::pg_functions::PostgresArithmetic));
        // Predicates that cannot fail may cross the policy barrier after DataFusion's
        // own filter pushdown has brought them to it.
        let mut optimizer_rules = Optimizer::new().rules;
        let after = optimizer_rules
            .iter()
            .position(|r| r.name() == "push_down_filter")
            .map_or(optimizer_rules.len(), |i| i + 1);
        optimizer_rules.insert(after, Arc::new(PushSafePredicatesThroughBarrier));
        // Aggregates joined on their grouping key compute only the groups that can join:
        // after DataFusion's decorrelation has made the joins.
        optimizer_rules.push(Arc::new(crate::rules::semi_join_reduction::SemiJoinReduction));
        // Inner joins in the order that keeps intermediate results smallest, once
        // decorrelation has made its joins and filters have reached the scans.
        if self.config.join_reordering {
            optimizer_rules.push(Arc::new(crate::rules::join_order::JoinOrder));
        }
        // Sub-plans over a federated SQL source become one query it runs. Last, so that
        // filters and projections have been pushed down to the scans first.
        optimizer_rules.push(Arc::new(
            datafusion_federation::FederationOptimizerRule::new(),
        ));
        // DataFusion's physical rules, with its limit pushdown replaced by ours (an OFFSET
        // applied once), then the cancellation points.
        let mut physical_rules =
            datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new()
                .rules
                .into_iter()
                .map(
                    |rule| -> Arc<
                        dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync,
                    > {
                        if rule.name() == "LimitPushdown" {
                            Arc::new(crate::rules::limit_pushdown::LimitPushdown)
                        } else {
                            rule
                        }
                    },
                )
                .collect::<Vec<_>>();
        physical_rules.push(Arc::new(CancelPoints));
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(self.runtime.clone())
            .with_default_features()
            .with_analyzer_rules(rules)
            .with_optimizer_rules(optimizer_rules)
            .with_query_planner(Arc::new(GatewayQueryPlanner::with_planners(vec![
                Arc::new(datafusion_federation::FederatedPlanner::new()),
            ])))
            .with_physical_optimizer_rules(physical_rules)
            .build();
        let ctx = SessionContext::new_with_state(state);
        let shared = Arc::new(principal.clone());
        let secured: Vec<(String, Arc<dyn datafusion::catalog::CatalogProvider>)> = self
            .registry
            .providers()
            .into_iter()
            .map(|(name, provider)| {
                let provider = match &self.semantic {
                    Some(layer) if layer.catalog() == name => Arc::new(
                        crate::semantic_tables::WithSemanticSchema::new(provider, layer.clone()),
                    )
                        as Arc<dyn datafusion::catalog::CatalogProvider>,
                    _ => provider,
                };
                let catalog: Arc<dyn datafusion::catalog::CatalogProvider> = Arc::new(
                    SecuredCatalog::new(&name, provider, shared.clone(), self.policy.clone()),
                );
                (name, catalog)
            })
            .collect();
        let context = Arc::new(PgCatalogContext {
            user: principal.user.clone(),
            catalogs: secured.clone(),
            settings: Default::default(),
        });
        for (name, catalog) in secured {
            let with_pg_catalog = WithPgCatalog::new(&name, catalog, context.clone());
            ctx.register_catalog(name, Arc::new(with_pg_catalog));
        }
        let (policy, registry, user) = (
            self.policy.clone(),
            self.registry.clone(),
            principal.user.clone(),
        );
        register_functions(
            &ctx,
            &principal.user,
            Arc::new(move |catalog, schema, table| {
                let writable = matches!(
                    registry.kind(catalog),
                    Some(CatalogType::IcebergSql | CatalogType::IcebergRest | CatalogType::Delta)
                );
                writable
                    && policy.current().allows(
                        &user,
                        &format!("{catalog}.{schema}.{table}"),
                        "insert",
                    )
            }),
        );
        // PostgreSQL's meaning for PostgreSQL's names, over DataFusion's namesakes.
        crate::pg_functions::register(&ctx);
        Session {
            cancel: tokio_util::sync::CancellationToken::new(),
            id: self.next_session.fetch_add(1, Ordering::Relaxed),
            principal,
            client,
            settings: Settings::new(&self.config.default_schema),
            ctx,
            rule,
            report,
            transaction: None,
            cursors: Cursors::default(),
            pg_context: context,
            meter: None,
            notices: Default::default(),
            query_id: String::new(),
            semantic: Default::default(),
            created: None,
        }
    }

    /// Splits SQL text into statements (PostgreSQL dialect). Text that does not parse
    /// is audited as an error.
    pub fn parse(&self, session: &Session, sql: &str) -> Result<Vec<DFStatement>> {
        match crate::sql::parse::split(sql) {
            Ok(statements) => Ok(statements),
            Err(error) => {
                let query_id = self.next_query.fetch_add(1, Ordering::Relaxed);
                let event = self.audit_event_without_access(session, query_id, sql);
                self.record_failure(event, Instant::now(), &error);
                Err(error)
            }
        }
    }

    fn audit_event_without_access(
        &self,
        session: &Session,
        query_id: u64,
        sql: &str,
    ) -> AuditEvent {
        session.clear_access();
        self.audit_event(session, query_id, sql)
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
                let query_id = self.next_query.fetch_add(1, Ordering::Relaxed);
                let event = self.audit_event(session, query_id, sql);
                self.record_failure(event, Instant::now(), &error);
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
                let plan = self.plan(session, target.unwrap_or(&statement)).await?;
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
                let plan = self.plan(session, &inner).await?;
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
                let plan = self.plan(session, &statement).await?;
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
        })
    }

    /// Executes a prepared statement with positional parameter values.
    pub async fn execute(
        &self,
        session: &mut Session,
        prepared: &Prepared,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome> {
        let started = Instant::now();
        let query_id = self.next_query.fetch_add(1, Ordering::Relaxed);
        session.query_id = self.query_name(query_id);
        session.meter = None;
        let result = self.execute_inner(session, prepared, params).await;
        let metered = session.meter.take().map(|meter| Metered {
            meter,
            prices: self.config.prices.clone(),
            show_cost: session
                .settings
                .get("gateway.show_cost")
                .is_ok_and(|v| v == "on"),
            notices: session.notices.clone(),
        });
        let mut event = self.audit_event(session, query_id, &prepared.sql);
        match result {
            // FETCH reads rows of a cursor whose DECLARE is audited with them.
            Ok(outcome @ Outcome::Rows { .. }) if prepared.kind == StatementKind::Fetch => {
                event.decision = "allow".into();
                finish_event(&self.audit, event, started, "ok")?;
                Ok(outcome)
            }
            Ok(Outcome::Rows { tag, stream }) => {
                let stream: SendableRecordBatchStream = Box::pin(CompletionStream::new(
                    stream,
                    audited_when_done(self.audit.clone(), event, started, metered),
                ));
                if prepared.kind == StatementKind::Declare {
                    let (spec, _) = declare_spec(sql_statement(&prepared.statement)?)?;
                    let level = session
                        .transaction
                        .as_ref()
                        .map_or(0, |t| t.savepoints.len());
                    session.cursors.declare(&spec, stream, level)?;
                    return Ok(Outcome::Command("DECLARE CURSOR".into()));
                }
                Ok(Outcome::Rows { tag, stream })
            }
            Ok(Outcome::Copy { stream, options }) => Ok(Outcome::Copy {
                stream: Box::pin(CompletionStream::new(
                    stream,
                    audited_when_done(self.audit.clone(), event, started, metered),
                )),
                options,
            }),
            Ok(outcome) => {
                event.decision = "allow".into();
                finish_event(&self.audit, event, started, "ok")?;
                Ok(outcome)
            }
            Err(error) => {
                // What a refused or failed query read (manifests for its estimate).
                if let Some(metered) = metered {
                    event.cost = Some(metered.meter.figures(0, 0, &metered.prices).into());
                }
                self.record_failure(event, started, &error);
                Err(error)
            }
        }
    }

    async fn execute_inner(
        &self,
        session: &mut Session,
        prepared: &Prepared,
        params: Vec<ScalarValue>,
    ) -> Result<Outcome> {
        session.clear_access();
        match prepared.kind {
            StatementKind::Query => {
                let (tag, mut stream) = self
                    .run_query(session, prepared, &prepared.statement, params, true)
                    .await?;
                // The rows go out under the schema the statement was described with.
                if let Some(schema) = &prepared.schema {
                    stream = ConformedStream::wrap(stream, schema.clone())?;
                }
                Ok(Outcome::Rows { tag, stream })
            }
            StatementKind::Show => {
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
            StatementKind::Session => self.session_command(session, &prepared.statement),
            StatementKind::Begin
            | StatementKind::Commit
            | StatementKind::Rollback
            | StatementKind::Savepoint
            | StatementKind::Release
            | StatementKind::RollbackTo => {
                self.transaction_command(session, sql_statement(&prepared.statement)?)
            }
            StatementKind::Declare => {
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
                // A cursor's rows are read over many statements: the timeout applies to
                // each FETCH, not to the cursor's lifetime.
                let (_, stream) = self
                    .run_query(session, prepared, &query, params, false)
                    .await?;
                Ok(Outcome::Rows {
                    tag: "DECLARE CURSOR",
                    stream,
                })
            }
            StatementKind::Fetch => {
                let (name, count) = fetch_spec(sql_statement(&prepared.statement)?)?;
                let rows = session.cursors.fetch(&name, count)?;
                let limit =
                    statement_timeout(session)?.map(|t| (tokio::time::Instant::now() + t, t));
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
            StatementKind::Close => {
                match close_spec(sql_statement(&prepared.statement)?) {
                    Some(name) => session.cursors.close(&name)?,
                    None => session.cursors.close_all(),
                }
                Ok(Outcome::Command("CLOSE CURSOR".into()))
            }
            StatementKind::Deallocate => match sql_statement(&prepared.statement)? {
                SqlStatement::Deallocate { name, .. }
                    if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") =>
                {
                    Ok(Outcome::Deallocate(None))
                }
                SqlStatement::Deallocate { name, .. } => {
                    Ok(Outcome::Deallocate(Some(name.value.clone())))
                }
                _ => Err(QueryError::new(ErrorKind::Internal, "not a DEALLOCATE")),
            },
            StatementKind::Call => match sql_statement(&prepared.statement)? {
                SqlStatement::Call(function) if crate::statements::optimize::is_optimize(function) => {
                    let tag =
                        crate::statements::optimize::optimize(session, function, &self.registry, &self.policy)
                            .await?;
                    Ok(Outcome::Command(tag))
                }
                SqlStatement::Call(function) => {
                    let policy = self.policy.current();
                    let user = session.principal.user.clone();
                    let tag = crate::statements::procedures::call(session, function, &self.running, || {
                        policy.allows(&user, crate::statements::procedures::RUNTIME_QUERIES, "admin")
                    })?;
                    Ok(Outcome::Command(tag))
                }
                _ => Err(QueryError::new(ErrorKind::Internal, "not a CALL")),
            },
            StatementKind::Write => {
                let kind = crate::statements::writes::WriteKind::of(&prepared.statement).ok_or_else(|| {
                    QueryError::new(ErrorKind::Internal, "not an INSERT or CREATE TABLE")
                })?;
                session.created = None;
                let written = async {
                    let (_, stream) = self
                        .run_query(session, prepared, &prepared.statement, params, true)
                        .await?;
                    written_rows(stream).await
                }
                .await;
                let created = session.created.take();
                match written {
                    Ok(rows) => Ok(Outcome::Modified {
                        tag: kind.tag(rows),
                        rows,
                    }),
                    Err(error) => {
                        if let Some(created) = created {
                            crate::statements::writes::undo_create(&self.registry, created).await;
                        }
                        Err(error)
                    }
                }
            }
            StatementKind::Copy => {
                let spec = copy_spec(sql_statement(&prepared.statement)?)?;
                let query = DFStatement::Statement(Box::new(spec.query.clone()));
                let (_, stream) = self
                    .run_query(session, prepared, &query, params, true)
                    .await?;
                let options = spec.options_for(&stream.schema())?;
                Ok(Outcome::Copy { stream, options })
            }
        }
    }

    async fn plan(&self, session: &Session, statement: &DFStatement) -> Result<LogicalPlan> {
        if let Some(name) = crate::sql::output_names::ambiguous_order_by(statement) {
            return Err(QueryError::new(
                ErrorKind::AmbiguousColumn,
                format!("ORDER BY \"{name}\" is ambiguous"),
            ));
        }
        let state = session.ctx.state();
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
        crate::pg_functions::rewrite_function_syntax(&mut statement);
        rewrite_postgres_syntax(&mut statement);
        // FOR VERSION|TIMESTAMP AS OF: each versioned table becomes its snapshot.
        crate::sql::time_travel::resolve(&mut statement, &session.ctx, &self.registry).await?;
        // Semantic tables become SQL over their base tables, secured like any query.
        let expanded = match &self.semantic {
            Some(layer) => layer.expand(
                &mut statement,
                &options.catalog.default_catalog,
                &session.principal.user,
                &self.policy,
            )?,
            None => false,
        };
        session.semantic.store(expanded, Ordering::Relaxed);
        let statement = &statement;
        if references_catalog_views(&state, statement) {
            // pg_settings reads the parameters as they are now; other statements skip it.
            session.pg_context.publish_settings(session.settings.all());
            self.registry
                .refresh_listings()
                .await
                .map_err(|e| QueryError::new(ErrorKind::Internal, e.to_string()))?;
        }
        let plan = match state.statement_to_plan(statement.clone()).await {
            Ok(plan) => plan,
            Err(e) => return Err(self.denied_column(session, &state, statement, e)),
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
        Ok(plan)
    }

    /// Plans, secures and starts a query. With `deadline`, `statement_timeout` bounds
    /// planning and the whole stream; without, only planning (cursors).
    async fn run_query(
        &self,
        session: &mut Session,
        prepared: &Prepared,
        statement: &DFStatement,
        params: Vec<ScalarValue>,
        deadline_applies: bool,
    ) -> Result<(&'static str, SendableRecordBatchStream)> {
        let expected_params = prepared.param_types.len();
        if params.len() != expected_params {
            return Err(QueryError::new(
                ErrorKind::ProtocolViolation,
                format!(
                    "statement requires {expected_params} parameters, {} given",
                    params.len()
                ),
            ));
        }
        // The session's statement_timeout, or the limit's if that is shorter.
        let limit = crate::metering::statement_timeout_ms(
            &self.config.limits,
            &session.principal.user,
            &session.principal.roles,
        )
        .map(std::time::Duration::from_millis);
        let timeout = match (statement_timeout(session)?, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut tag = "SELECT";
        // EXPLAIN COST and dry runs plan the query and return its estimate.
        let estimate_only = cost_target(statement).is_some() || dry_run(session);
        let statement = cost_target(statement).unwrap_or(statement);
        let scan_limit = crate::metering::max_scan_bytes(
            &self.config.limits,
            &session.principal.user,
            &session.principal.roles,
        );
        let hard_budget = self
            .audit
            .budgets
            .has_hard(&session.principal.user, &session.principal.roles);
        let meter = match self.config.metering {
            true => Some(Arc::new(QueryMeter::new(
                &self.runtime,
                &self.registry.object_stores(),
            )?)),
            false => None,
        };
        session.meter = meter.clone();
        // The catalog's tables find the storage counters in the session config when
        // the plan's scans are built. With metering off none is ever set.
        if let Some(meter) = &meter {
            session
                .ctx
                .state_ref()
                .write()
                .config_mut()
                .set_extension(meter.scan());
        }
        // The query is listed in system.runtime.queries, and killable, until its
        // result stream is dropped.
        let registration = self.register(session, &prepared.sql, meter.clone());
        let entry = registration.query.clone();
        let killed = entry.killed.clone();
        let mut slots = None;
        let mut created = None;
        let mut announced = None;
        let result = async {
            // A slot at every concurrency gate that applies, waiting in its queue
            // (cancellable, and within statement_timeout).
            let (held, queued) = self
                .admission
                .admit(&session.principal.user, &session.principal.roles)
                .await?;
            slots = Some(held);
            if let Some(meter) = &meter {
                meter.set_queued(queued);
            }
            entry.set_queued(queued);
            entry.set_state(crate::query_registry::QueryState::Planning);
            // Planned again so that each execution reads the tables' current snapshots.
            let mut plan = self.plan(session, statement).await?;
            if !params.is_empty() {
                plan = plan.with_param_values(params)?;
            }
            // CREATE TABLE: the table is created here, its rows written as an INSERT.
            plan =
                crate::statements::writes::prepare(session, &self.registry, &self.policy, plan, &mut created)
                    .await?;
            // EXPLAIN reports analysis errors as plan text instead of failing; a denied
            // object must fail the statement, so the explained plan is checked here.
            let explained = match &plan {
                LogicalPlan::Explain(explain) => Some(explain.plan.as_ref()),
                LogicalPlan::Analyze(analyze) => Some(analyze.input.as_ref()),
                _ => None,
            };
            let is_explain = explained.is_some();
            if let Some(inner) = explained {
                tag = "EXPLAIN";
                let state = session.ctx.state();
                session
                    .rule
                    .analyze(inner.clone(), state.config_options())?;
            }
            let frame = session.ctx.execute_logical_plan(plan).await?;
            let mut task = frame.task_ctx();
            let (state, plan) = frame.into_parts();
            // The optimized plan gives the schema the rows are streamed under, the one
            // its description announced.
            let optimized = state.optimize(&plan)?;
            announced = Some(announced_schema(statement, &optimized));
            let mut physical = state
                .query_planner()
                .create_physical_plan(&optimized, &state)
                .await?;
            // The estimate reads manifests only: a query refused here opens no data file.
            if estimate_only || scan_limit.is_some() || hard_budget {
                let estimate = lakegate_catalog::estimate::estimate_plan(&physical).await?;
                entry.set_estimate(estimate.bytes());
                if estimate_only {
                    tag = "EXPLAIN";
                    let batch = estimate_batch(&estimate, &self.config.prices)?;
                    let stream = MemoryStream::try_new(vec![batch], estimate_schema(), None)?;
                    return Ok(Box::pin(stream) as SendableRecordBatchStream);
                }
                if let Some((limit, subject)) = scan_limit
                    && estimate.bytes() > limit
                {
                    return Err(QueryError::new(
                        ErrorKind::LimitExceeded,
                        format!(
                            "query would scan an estimated {} bytes in {} files, over the \
                             limit of {limit} bytes per query for {subject}",
                            estimate.bytes(),
                            estimate.files()
                        ),
                    ));
                }
                let estimated_cost =
                    estimate.bytes() as f64 / 1e12 * self.config.prices.per_tb_scanned;
                if let Some(refusal) = self.audit.budgets.refusal(
                    &session.principal.user,
                    &session.principal.roles,
                    estimated_cost,
                    chrono::Utc::now(),
                ) {
                    return Err(QueryError::new(
                        ErrorKind::LimitExceeded,
                        crate::metering::refusal_message(
                            &refusal,
                            estimated_cost,
                            &self.config.prices.unit,
                        ),
                    ));
                }
            }
            // A semantic query's result may be served from the cache.
            let cache = self
                .semantic
                .as_ref()
                .and_then(|layer| layer.cache())
                .filter(|_| !is_explain && session.semantic.load(Ordering::Relaxed));
            let cache_key = cache
                .as_ref()
                .and_then(|_| crate::result_cache::key(&physical, &session.principal.user));
            if let (Some(cache), Some(key)) = (&cache, &cache_key) {
                let hit = cache.get(key);
                self.audit.metrics.semantic_cache(hit.is_some());
                if let Some(stream) = hit {
                    entry.set_state(crate::query_registry::QueryState::Running);
                    return Ok(stream);
                }
            }
            if let Some(meter) = &meter {
                task = task.with_runtime(meter.runtime());
                if !is_explain {
                    physical = meter.instrument(physical)?;
                }
            }
            // The registry holds the plan that runs (its scans give progress).
            entry.set_plan(physical.clone());
            entry.set_state(crate::query_registry::QueryState::Running);
            let stream = self.executor.execute(physical, Arc::new(task));
            Ok::<_, QueryError>(match (cache, cache_key) {
                (Some(cache), Some(key)) => cache.fill(key, stream),
                _ => stream,
            })
        };
        let cancel = session.cancel.clone();
        let result = async {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(canceled_error(&killed)),
                result = result => result,
            }
        };
        let result = match (deadline, timeout) {
            (Some(deadline), Some(timeout)) => tokio::time::timeout_at(deadline, result)
                .await
                .unwrap_or_else(|_| Err(timeout_error(timeout))),
            _ => result.await,
        };
        session.created = created;
        let mut stream = result?;
        // A cursor's stream outlives the statement's deadline but can still be killed.
        let limit = deadline.zip(timeout).filter(|_| deadline_applies);
        stream = Box::pin(DeadlineStream::new(
            stream,
            limit,
            session.cancel.clone(),
            killed,
        ));
        // The slots and the registration are held until the result stream is dropped.
        stream = Box::pin(HoldingStream::new(stream, (slots.take(), registration)));
        if estimate_only {
            return Ok((tag, stream));
        }
        if let Some(schema) = announced {
            stream = ConformedStream::wrap(stream, schema)?;
        }
        Ok((tag, stream))
    }
}

impl QueryService {
    /// Lists the session's current query in the registry of running queries.
    fn register(
        &self,
        session: &Session,
        sql: &str,
        meter: Option<Arc<QueryMeter>>,
    ) -> crate::query_registry::Registration {
        let mut text = AuditEvent::default();
        self.audit.audit.set_sql(&mut text, sql);
        let who = crate::query_registry::QueryIdentity {
            id: session.query_id.clone(),
            session_id: session.id,
            user: session.principal.user.clone(),
            roles: session.principal.roles.clone(),
            protocol: session.client.protocol.to_string(),
            client: session.client.address.clone(),
            sql: text.sql,
        };
        self.running.register(who, meter, session.cancel.clone())
    }

    /// A column that is not found because the policy denies it is reported as a
    /// privilege error (42501), not as a missing column.
    fn denied_column(
        &self,
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
        let policy = self.policy.current();
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
            if let Some(rule) = policy.column_rule(&session.principal.user, &full, &name)
                && rule.action == ColumnAction::Deny
            {
                return QueryError::new(
                    ErrorKind::InsufficientPrivilege,
                    format!("permission denied for column {name} of table {full}"),
                );
            }
        }
        error.into()
    }
}

/// The session's `statement_timeout`, if one is set.
fn statement_timeout(session: &Session) -> Result<Option<std::time::Duration>> {
    let ms: u64 = session
        .settings
        .get("statement_timeout")?
        .parse()
        .unwrap_or(0);
    Ok((ms > 0).then(|| std::time::Duration::from_millis(ms)))
}

/// A query's meter, with what to do with its figures when the result ends.
struct Metered {
    meter: Arc<QueryMeter>,
    prices: crate::PriceList,
    /// Send the cost notice (`SET gateway.show_cost = on`).
    show_cost: bool,
    /// Where the session's notices go (cost, soft budgets).
    notices: Arc<Mutex<Vec<crate::Notice>>>,
}

/// Records a streamed statement's audit event when its stream ends: rows read, and
/// whether it completed, failed or was abandoned, with the query's metered figures.
fn audited_when_done(
    audit: Arc<Trail>,
    mut event: AuditEvent,
    started: Instant,
    metered: Option<Metered>,
) -> OnFinish {
    Box::new(move |rows, bytes, ending, error| {
        event.rows = rows;
        event.decision = match ending {
            Ending::Failed => "error".into(),
            Ending::Complete | Ending::Abandoned => "allow".into(),
        };
        event.error = error;
        let (user, roles) = (event.user.clone(), event.roles.clone());
        let mut notices = Vec::new();
        let mut target = None;
        if let Some(metered) = metered {
            let figures = metered.meter.figures(rows, bytes, &metered.prices);
            if metered.show_cost {
                notices.push(cost_notice(&figures, &metered.prices));
            }
            event.cost = Some(figures.into());
            target = Some((metered.notices, metered.prices.unit));
        }
        let result = finish_event(&audit, event, started, ending_name(ending));
        // Soft budgets are checked with this query's cost counted.
        if let Some((target, unit)) = target {
            for (budget, spent) in audit
                .budgets
                .soft_overruns(&user, &roles, chrono::Utc::now())
            {
                notices.push(budget_notice(&budget, spent, &unit));
            }
            target
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(notices);
        }
        result
    })
}

/// The warning a client gets while over a soft budget.
fn budget_notice(budget: &crate::Budget, spent: f64, unit: &str) -> crate::Notice {
    let period = match budget.period {
        crate::BudgetPeriod::Day => "daily",
        crate::BudgetPeriod::Month => "monthly",
    };
    crate::Notice {
        message: format!(
            "{period} budget of {} {unit} for {} is exceeded: {spent:.8} {unit} used",
            budget.limit, budget.subject
        ),
        detail: None,
    }
}

/// The NOTICE a client gets with `gateway.show_cost` on: the cost, and every figure
/// as `name=value` pairs in DETAIL.
fn cost_notice(figures: &crate::QueryFigures, prices: &crate::PriceList) -> crate::Notice {
    let f = figures;
    crate::Notice {
        message: format!("query cost {:.8} {}", f.cost, prices.unit),
        detail: Some(format!(
            "bytes_scanned={} metadata_bytes={} files_scanned={} files_pruned={} \
             row_groups_scanned={} row_groups_pruned={} read_requests={} \
             rows_scanned={} rows_returned={} bytes_returned={} cpu_ms={:.3} wall_ms={:.3} \
             queue_ms={:.3} peak_memory_bytes={} cost={:.10}",
            f.bytes_scanned,
            f.metadata_bytes,
            f.files_scanned,
            f.files_pruned,
            f.row_groups_scanned,
            f.row_groups_pruned,
            f.read_requests,
            f.rows_scanned,
            f.rows_returned,
            f.bytes_returned,
            f.cpu_ms,
            f.wall_ms,
            f.queue_ms,
            f.peak_memory_bytes,
            f.cost,
        )),
    }
}

/// The rows a write's stream reports (`count` of each batch, bigint on the way out).
async fn written_rows(mut stream: SendableRecordBatchStream) -> Result<u64> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::UInt64Type;
    use futures::StreamExt;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if let Some(counts) = batch.columns().first() {
            let counts = datafusion::arrow::compute::cast(counts, &DataType::UInt64)
                .map_err(|e| datafusion::error::DataFusionError::ArrowError(Box::new(e), None))?;
            rows += counts
                .as_primitive::<UInt64Type>()
                .iter()
                .flatten()
                .sum::<u64>();
        }
    }
    Ok(rows)
}

/// The sqlparser statement inside a DataFusion statement.
fn sql_statement(statement: &DFStatement) -> Result<&SqlStatement> {
    match statement {
        DFStatement::Statement(s) => Ok(s.as_ref()),
        _ => Err(QueryError::new(
            ErrorKind::Internal,
            "expected a PostgreSQL statement",
        )),
    }
}

/// The query a DECLARE or COPY runs.
fn inner_query(statement: &DFStatement, kind: StatementKind) -> Result<DFStatement> {
    let inner = match kind {
        StatementKind::Declare => declare_spec(sql_statement(statement)?)?.1,
        StatementKind::Copy => copy_spec(sql_statement(statement)?)?.query,
        _ => return Ok(statement.clone()),
    };
    Ok(DFStatement::Statement(Box::new(inner)))
}

fn classify(statement: &DFStatement) -> StatementKind {
    let statement = match statement {
        DFStatement::Statement(statement) => statement,
        DFStatement::Reset(_) => return StatementKind::Session,
        _ => return StatementKind::Query,
    };
    match statement.as_ref() {
        SqlStatement::ShowVariable { .. } => StatementKind::Show,
        SqlStatement::Set(_) | SqlStatement::Reset(_) | SqlStatement::Discard { .. } => {
            StatementKind::Session
        }
        SqlStatement::StartTransaction { .. } => StatementKind::Begin,
        SqlStatement::Commit { .. } => StatementKind::Commit,
        SqlStatement::Rollback {
            savepoint: Some(_), ..
        } => StatementKind::RollbackTo,
        SqlStatement::Rollback { .. } => StatementKind::Rollback,
        SqlStatement::Savepoint { .. } => StatementKind::Savepoint,
        SqlStatement::ReleaseSavepoint { .. } => StatementKind::Release,
        SqlStatement::Declare { .. } => StatementKind::Declare,
        SqlStatement::Fetch { .. } => StatementKind::Fetch,
        SqlStatement::Close { .. } => StatementKind::Close,
        SqlStatement::Copy { .. } => StatementKind::Copy,
        SqlStatement::Deallocate { .. } => StatementKind::Deallocate,
        SqlStatement::Call(_) => StatementKind::Call,
        SqlStatement::Insert(_) | SqlStatement::CreateTable(_) => StatementKind::Write,
        _ => StatementKind::Query,
    }
}

fn param_types(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>> {
    let mut types = plan.get_parameter_types()?;
    // `$1::BIGINT` types its placeholder as PostgreSQL does, where DataFusion could not.
    for (id, data_type) in cast_placeholder_types(plan)? {
        if let Some(slot @ None) = types.get_mut(&id) {
            *slot = Some(data_type);
        }
    }
    // A gap is a parameter the statement does not use (a catalog rewrite may drop the
    // subquery that held it): its type is whatever the client declares.
    let mut ordered = Vec::with_capacity(types.len());
    for (id, data_type) in types {
        let index = id
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=u16::MAX as usize).contains(n))
            .ok_or_else(|| {
                QueryError::new(
                    ErrorKind::Syntax,
                    format!("parameter {id} is not of the form $1, $2, …"),
                )
            })?;
        if ordered.len() < index {
            ordered.resize(index, None);
        }
        ordered[index - 1] = data_type;
    }
    Ok(ordered)
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

/// Placeholders that appear directly under a cast, with the cast's target type.
fn cast_placeholder_types(plan: &LogicalPlan) -> Result<Vec<(String, DataType)>> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{Cast, TryCast};
    let mut found = Vec::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                let (inner, data_type) = match e {
                    Expr::Cast(Cast { expr, data_type }) => (expr, data_type),
                    Expr::TryCast(TryCast { expr, data_type }) => (expr, data_type),
                    _ => return Ok(TreeNodeRecursion::Continue),
                };
                if let Expr::Placeholder(p) = inner.as_ref() {
                    found.push((p.id.clone(), data_type.clone()));
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(found)
}

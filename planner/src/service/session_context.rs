//! A session's DataFusion context: the engine options, the principal's view of every
//! catalog (with pg_catalog and the semantic schema), the analyzer with the security
//! rule and PostgreSQL's typing rules, the gateway's optimizer and physical rules, and
//! the PostgreSQL functions.

use std::sync::{Arc, Mutex};

use datafusion::catalog::CatalogProvider;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::optimizer::{Analyzer, AnalyzerRule, Optimizer, OptimizerRule};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::prelude::{SessionConfig, SessionContext};
use lakegate_catalog::CatalogType;
use lakegate_pg_compat::catalog::{PgCatalogContext, WithPgCatalog, register_functions};
use lakegate_security::Principal;
use lakegate_security::policy::Action;
use lakegate_security::policy::StatisticsMode;
use lakegate_security::rules::{
    AccessReport, GatewayQueryPlanner, PushSafePredicatesThroughBarrier, SecureScans,
};
use lakegate_security::view::SecuredCatalog;

use crate::config::ENGINE_DEFAULTS;
use crate::pipeline::cancel_points::CancelPoints;
use crate::pipeline::engine::Engine;
use crate::rules::leave_aggregates::LeaveAggregates;

/// What a session's planning is wired to.
pub(crate) struct SessionParts {
    pub(crate) ctx: SessionContext,
    /// The security rule of the context's analyzer.
    pub(crate) rule: Arc<SecureScans>,
    /// What the rule applied to the last statement.
    pub(crate) report: Arc<Mutex<AccessReport>>,
    /// What the session's pg_catalog reads beyond the catalogs.
    pub(crate) pg_context: Arc<PgCatalogContext>,
}

/// The context of a session of `principal`.
pub(crate) fn session_context(engine: &Engine, principal: &Principal) -> SessionParts {
    let report = Arc::new(Mutex::new(AccessReport::default()));
    // A federated table's row filter stays a plan node: federation finds the scan by
    // its source's type and sends the filter with it.
    let rule =
        Arc::new(
            SecureScans::new(principal.clone(), engine.policy.clone(), report.clone())
                .with_sources(engine.config.statistics, |table| {
                    table
                        .as_any()
                        .is::<datafusion_federation::FederatedTableProviderAdaptor>()
                }),
        );
    let state = SessionStateBuilder::new()
        .with_config(session_config(engine))
        .with_runtime_env(engine.runtime.clone())
        .with_default_features()
        .with_analyzer_rules(analyzer_rules(rule.clone()))
        .with_optimizer_rules(optimizer_rules(engine))
        .with_query_planner(Arc::new(GatewayQueryPlanner::with_planners(vec![
            Arc::new(datafusion_federation::FederatedPlanner::new()),
        ])))
        .with_physical_optimizer_rules(physical_rules())
        .build();
    let ctx = SessionContext::new_with_state(state);
    let pg_context = register_catalogs(engine, principal, &ctx);
    register_pg_functions(engine, principal, &ctx);
    SessionParts {
        ctx,
        rule,
        report,
        pg_context,
    }
}

/// The engine options (the gateway's defaults, then `[query.engine]`), the default
/// catalog and schema, and PostgreSQL's time zone and numeric literals.
fn session_config(engine: &Engine) -> SessionConfig {
    let mut config = SessionConfig::new();
    for (name, value) in ENGINE_DEFAULTS.iter().map(|(n, v)| (*n, *v)).chain(
        engine
            .config
            .engine_options
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
    ) {
        // Checked when the service started.
        if let Err(error) = config.options_mut().set(name, value) {
            tracing::warn!(%error, name, "engine option not set");
        }
    }
    // A sort that spills sets this much aside per partition to merge its files; with a
    // per-query limit, a small part of it (unless `[query.engine]` says otherwise).
    const SORT_MERGE: &str = "datafusion.execution.sort_spill_reservation_bytes";
    if !engine
        .config
        .engine_options
        .iter()
        .any(|(n, _)| n == SORT_MERGE)
    {
        let reservation = engine
            .config
            .memory
            .sort_merge_reservation(engine.config.target_partitions);
        config.options_mut().execution.sort_spill_reservation_bytes = reservation;
    }
    let mut config = config
        .with_information_schema(true)
        .with_create_default_catalog_and_schema(false)
        .with_default_catalog_and_schema(
            &engine.config.default_catalog,
            &engine.config.default_schema,
        )
        .with_target_partitions(engine.config.target_partitions.max(1))
        .with_batch_size(engine.config.batch_size.max(1));
    // PostgreSQL's `timestamptz` is UTC-based; sessions run in UTC.
    config.options_mut().execution.time_zone = Some("+00:00".into());
    // `1.5` is a `numeric` constant in PostgreSQL (exact), not a double.
    config.options_mut().sql_parser.parse_float_as_decimal = true;
    let config = config.with_extension(Arc::new(lakegate_catalog::iceberg::NativeIcebergScan(
        engine.config.native_iceberg_scan,
    )));
    match &engine.distributed {
        Some(distribution) => distribution.configure(config),
        None => config,
    }
}

/// DataFusion's analyzer rules with the security rule and PostgreSQL's typing rules.
fn analyzer_rules(security: Arc<SecureScans>) -> Vec<Arc<dyn AnalyzerRule + Send + Sync>> {
    // The security rule runs before type coercion, so injected filters and masks
    // are coerced like the user's own expressions.
    let mut rules = Analyzer::new().rules;
    let at = rules
        .iter()
        .position(|r| r.name() == "type_coercion")
        .unwrap_or(0);
    rules.insert(at, security);
    // Integer literals are `integer` when they fit, as in PostgreSQL: before type
    // coercion, which widens them where they meet wider types.
    rules.insert(
        at + 1,
        Arc::new(lakegate_pg_compat::functions::IntegerLiterals),
    );
    // Date arithmetic typed as PostgreSQL types it (`date - date` an integer,
    // `date + interval` a timestamp): before coercion fits the rest to it.
    rules.insert(
        at + 2,
        Arc::new(lakegate_pg_compat::functions::PostgresDates),
    );
    // PostgreSQL's arithmetic (overflow, casts to integers and text): right
    // after type coercion has given both sides their types, before folding.
    let coerced = rules
        .iter()
        .position(|r| r.name() == "type_coercion")
        .map_or(rules.len(), |i| i + 1);
    rules.insert(
        coerced,
        Arc::new(lakegate_pg_compat::functions::PostgresArithmetic),
    );
    // Those rewrites give some expressions PostgreSQL's type (a numeric quotient's
    // scale, `avg` of a numeric, `sum` of bigints), which the expressions around them
    // were coerced to before: coerce again, so that `price > (SELECT avg(p) / 2 …)`
    // compares like types instead of failing at execution (found by the differential
    // test against PostgreSQL).
    rules.insert(
        coerced + 1,
        Arc::new(datafusion::optimizer::analyzer::type_coercion::TypeCoercion::new()),
    );
    rules
}

/// DataFusion's optimizer rules with the policy barrier's safe pushdown, the gateway's
/// join rules and federation.
fn optimizer_rules(engine: &Engine) -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    // Predicates that cannot fail may cross the policy barrier after DataFusion's
    // own filter pushdown has brought them to it.
    let mut rules: Vec<Arc<dyn OptimizerRule + Send + Sync>> = Optimizer::new()
        .rules
        .into_iter()
        .map(|rule| -> Arc<dyn OptimizerRule + Send + Sync> {
            match rule.name() {
                crate::rules::group_by_constant::NAME => Arc::new(LeaveAggregates::new(
                    rule,
                    crate::rules::group_by_constant::all_keys_constant,
                )),
                crate::rules::grand_total::PROPAGATE_EMPTY => Arc::new(LeaveAggregates::new(
                    rule,
                    crate::rules::grand_total::has_empty_grouping_set,
                )),
                _ => rule,
            }
        })
        .collect();
    let after = rules
        .iter()
        .position(|r| r.name() == "push_down_filter")
        .map_or(rules.len(), |i| i + 1);
    if engine.config.statistics == StatisticsMode::Performance {
        // Pruning a filtered table by the user's predicates reads statistics of its
        // hidden rows; only the performance mode allows it.
        rules.insert(after, Arc::new(PushSafePredicatesThroughBarrier));
    }
    // The columns a governed scan's parent reads are selected below its barrier, or
    // filter pushdown and projection pruning undo each other every pass.
    let pruned = rules
        .iter()
        .position(|r| r.name() == "optimize_projections")
        .map_or(rules.len(), |i| i + 1);
    rules.insert(
        pruned,
        Arc::new(lakegate_security::rules::ProjectBelowBarrier),
    );
    // Aggregates joined on their grouping key compute only the groups that can join:
    // after DataFusion's decorrelation has made the joins.
    rules.push(Arc::new(
        crate::rules::semi_join_reduction::SemiJoinReduction,
    ));
    // Inner joins in the order that keeps intermediate results smallest, once
    // decorrelation has made its joins and filters have reached the scans.
    if engine.config.join_reordering {
        rules.push(Arc::new(crate::rules::join_order::JoinOrder));
    }
    // Sub-plans over a federated SQL source become one query it runs. Last, so that
    // filters and projections have been pushed down to the scans first.
    rules.push(Arc::new(
        datafusion_federation::FederationOptimizerRule::new(),
    ));
    rules
}

/// DataFusion's physical rules, with its limit pushdown replaced by ours (an OFFSET
/// applied once), then the cancellation points.
fn physical_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new()
        .rules
        .into_iter()
        .map(|rule| -> Arc<dyn PhysicalOptimizerRule + Send + Sync> {
            if rule.name() == "LimitPushdown" {
                Arc::new(crate::rules::limit_pushdown::LimitPushdown)
            } else {
                rule
            }
        })
        .collect::<Vec<_>>();
    // Before distribution is enforced: the grand-total exec asks for one input partition.
    let distribution = rules
        .iter()
        .position(|r| r.name() == "EnforceDistribution")
        .unwrap_or(0);
    rules.insert(
        distribution,
        Arc::new(crate::rules::grand_total::GrandTotalOnEmptyInput),
    );
    rules.push(Arc::new(CancelPoints));
    rules
}

/// Registers every catalog as the principal sees it (with the semantic schema where the
/// layer serves one), each with a `pg_catalog` schema; returns what pg_catalog reads.
fn register_catalogs(
    engine: &Engine,
    principal: &Principal,
    ctx: &SessionContext,
) -> Arc<PgCatalogContext> {
    let shared = Arc::new(principal.clone());
    let secured: Vec<(String, Arc<dyn CatalogProvider>)> = engine
        .registry
        .providers()
        .into_iter()
        .map(|(name, provider)| {
            let provider = match &engine.semantic {
                Some(layer) if layer.catalog() == name => Arc::new(
                    crate::semantic_tables::WithSemanticSchema::new(provider, layer.clone()),
                )
                    as Arc<dyn CatalogProvider>,
                _ => provider,
            };
            let catalog: Arc<dyn CatalogProvider> = Arc::new(SecuredCatalog::new(
                &name,
                provider,
                shared.clone(),
                engine.policy.clone(),
            ));
            (name, catalog)
        })
        .collect();
    let policy = engine.policy.clone();
    let context = Arc::new(PgCatalogContext {
        user: principal.user.clone(),
        catalogs: secured.clone(),
        settings: Default::default(),
        column_tags: Some(lakegate_pg_compat::catalog::ColumnTags(Arc::new(
            move |table, column| {
                policy
                    .current()
                    .column_tags(table, column)
                    .into_iter()
                    .collect()
            },
        ))),
    });
    for (name, catalog) in secured {
        let with_pg_catalog = WithPgCatalog::new(&name, catalog, context.clone());
        ctx.register_catalog(name, Arc::new(with_pg_catalog));
    }
    context
}

/// PostgreSQL's catalog functions (privileges asked of the policy) and PostgreSQL's
/// meaning for PostgreSQL's names, over DataFusion's namesakes.
fn register_pg_functions(engine: &Engine, principal: &Principal, ctx: &SessionContext) {
    let (policy, registry, user) = (
        engine.policy.clone(),
        engine.registry.clone(),
        principal.clone(),
    );
    register_functions(
        ctx,
        &principal.user,
        Arc::new(move |catalog, schema, table| {
            let writable = matches!(
                registry.kind(catalog),
                Some(CatalogType::IcebergSql | CatalogType::IcebergRest | CatalogType::Delta)
            );
            writable
                && policy.permits(
                    &user,
                    Action::Insert(&format!("{catalog}.{schema}.{table}")),
                )
        }),
    );
    lakegate_pg_compat::functions::register(ctx);
}

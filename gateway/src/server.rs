//! Server lifecycle: open catalogs, seed demo data, bind listeners, serve, shut down.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use lakegate_catalog::CatalogRegistry;
use lakegate_catalog::seed::{SeedOptions, seed_tpch};
use lakegate_catalog::seed_entitlements::seed_entitlements;
use lakegate_planner::history::{HistoryConfig, HistoryStore};
use lakegate_planner::{ModelSource, PlannerConfig, QueryRegistry, QueryService, SemanticLayer};
use lakegate_security::UserStore;
use lakegate_security::audit::{AuditConfig, AuditLog};

use crate::login_throttle::LoginThrottle;
use lakegate_security::policy::{PolicySource, PolicyStore, PolicyValidator};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::Admin;
use crate::config::Config;
use crate::flight::FlightFrontend;
use crate::pg::PgFrontend;

/// A running gateway: its bound addresses and a handle to stop it.
pub struct Gateway {
    pg_addr: SocketAddr,
    flight_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    service: Arc<QueryService>,
    users: Arc<UserStore>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    history_stop: CancellationToken,
    history_task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("pg_addr", &self.pg_addr)
            .finish()
    }
}

/// Opens the configured catalogs and seeds the demo data when it is missing.
pub async fn open_catalogs(config: &Config, progress: bool) -> anyhow::Result<CatalogRegistry> {
    let registry = CatalogRegistry::open(&config.effective_catalogs())
        .await
        .context("opening catalogs")?;
    if config.seed.enabled {
        let lake = registry.get(&config.seed.catalog).with_context(|| {
            format!(
                "seed.catalog {:?} is not a configured catalog",
                config.seed.catalog
            )
        })?;
        let report = seed_tpch(
            &lake.lake,
            &SeedOptions {
                scale_factor: config.seed.scale_factor,
                schema: config.seed.schema.clone(),
                force: false,
                progress,
            },
        )
        .await
        .context("seeding TPC-H demo data")?;
        let entitlements = seed_entitlements(&lake.lake)
            .await
            .context("seeding the demo entitlements table")?;
        if entitlements > 0 {
            tracing::info!(rows = entitlements, "seeded the demo entitlements table");
        }
        if !report.written.is_empty() {
            tracing::info!(
                tables = report.written.len(),
                seconds = report.elapsed.as_secs_f64(),
                scale_factor = config.seed.scale_factor,
                "seeded TPC-H demo data"
            );
        }
    }
    Ok(registry)
}

/// A policy may only name tables that exist (wildcard patterns excepted), so that a
/// typo in a grant or a filter is an error rather than a rule that never applies.
/// Catalogs the gateway does not serve (such as future system catalogs) are skipped.
pub(crate) fn tables_exist(registry: Arc<CatalogRegistry>) -> PolicyValidator {
    Arc::new(move |policy| {
        use datafusion::catalog::CatalogProvider;
        for (id, table) in policy.literal_tables() {
            let mut parts = table.splitn(3, '.');
            let (Some(catalog), Some(schema), Some(name)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some(registered) = registry.get(catalog) else {
                continue;
            };
            let exists = registered
                .lake
                .schema(schema)
                .map(|s| s.table_names().iter().any(|t| t == name))
                .unwrap_or(false);
            if !exists {
                return Err(format!("{id}: names table {table}, which does not exist"));
            }
        }
        Ok(())
    })
}

impl Gateway {
    /// Starts every frontend. Returns once the listeners are bound.
    pub async fn start(config: Config, progress: bool) -> anyhow::Result<Self> {
        // aws-lc-rs for every TLS user in the process (listeners, S3, REST catalogs);
        // an error only means a provider is installed already.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        crate::exposure::check(&config).map_err(|e| anyhow::anyhow!(e))?;
        let users =
            Arc::new(UserStore::from_config(&config.effective_users()).context("loading users")?);
        let jwt = match &config.auth.jwt {
            Some(settings) => Some(Arc::new(
                lakegate_security::jwt::JwtVerifier::new(settings.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("[auth.jwt]: {e}"))?,
            )),
            None => None,
        };
        let ldap = match &config.auth.ldap {
            Some(settings) => Some(Arc::new(
                lakegate_security::ldap::LdapAuthenticator::new(settings.clone())
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
            None => None,
        };
        let external = Arc::new(lakegate_security::external::ExternalLogins { jwt, ldap });
        let audit_path = config.audit_path();
        let audit = Arc::new(
            AuditLog::open(AuditConfig {
                path: audit_path.clone(),
                max_bytes: config.audit.max_bytes.max(1024),
                hash_sql: config.audit.hash_sql,
                max_sql_bytes: config.audit.max_sql_bytes.max(64),
                retention_days: config.audit.retention_days,
                fsync: config.audit.fsync,
            })
            .context("opening the audit trail")?,
        );
        // Sized before the catalogs read their first metadata file.
        lakegate_catalog::metadata_cache::configure_metadata_cache(config.query.metadata_cache_mb);
        let mut registry = open_catalogs(&config, progress).await?;
        let history = match config.finops.history.enabled {
            true => {
                let dir = config.finops.history.dir.clone().map_or_else(
                    || std::path::Path::new(&config.data_dir).join("system"),
                    std::path::PathBuf::from,
                );
                let store = HistoryStore::open(
                    &dir,
                    HistoryConfig {
                        flush_rows: config.finops.history.flush_rows.max(1),
                        flush_interval: std::time::Duration::from_secs(
                            config.finops.history.flush_seconds.max(1),
                        ),
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("opening the query history: {e}"))?;
                Some(Arc::new(store))
            }
            false => None,
        };
        let running = Arc::new(QueryRegistry::default());
        let system = lakegate_planner::system_catalog(
            audit_path.as_deref(),
            history.clone(),
            running.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("building the system catalog: {e}"))?;
        registry.add_internal("system", system.clone())?;
        let registry = Arc::new(registry);
        let policy = Arc::new(
            PolicyStore::load_validated(
                PolicySource {
                    model: config.security.model.as_ref().map(Into::into),
                    policy: config.security.policy.as_ref().map(Into::into),
                },
                Some(tables_exist(registry.clone())),
            )
            .await
            .map_err(|e| anyhow::anyhow!("loading the security policy: {e}"))?,
        );
        lakegate_planner::register_policy_versions(&system, policy.clone())
            .map_err(|e| anyhow::anyhow!("building the system catalog: {e}"))?;
        if config.security.reload_seconds > 0 {
            policy.watch(std::time::Duration::from_secs(
                config.security.reload_seconds,
            ));
        }
        if registry.get(&config.default_catalog).is_none() {
            anyhow::bail!(
                "default_catalog {:?} is not a configured catalog",
                config.default_catalog
            );
        }
        let semantic = match config.semantic.enabled {
            true => {
                let catalog = config
                    .semantic
                    .catalog
                    .clone()
                    .unwrap_or_else(|| config.default_catalog.clone());
                let source = match &config.semantic.models_dir {
                    Some(dir) => ModelSource::Dir(dir.into()),
                    None => ModelSource::Builtin,
                };
                let layer = SemanticLayer::open(&catalog, source, &registry)
                    .await
                    .map_err(|e| anyhow::anyhow!("loading the semantic models:\n{e}"))?;
                let layer = Arc::new(layer);
                if config.semantic.reload_seconds > 0 {
                    layer.watch(
                        registry.clone(),
                        std::time::Duration::from_secs(config.semantic.reload_seconds),
                    );
                }
                Some(layer)
            }
            false => None,
        };
        let target_partitions = match config.query.target_partitions {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let throttle = Arc::new(LoginThrottle::new(&config.login, audit.clone()));
        let trail = audit.clone();
        let mut service = QueryService::new(
            registry,
            policy,
            audit,
            PlannerConfig {
                default_catalog: config.default_catalog.clone(),
                default_schema: config.default_schema.clone(),
                target_partitions,
                batch_size: config.query.batch_size,
                native_iceberg_scan: config.query.native_iceberg_scan,
                join_reordering: config.query.join_reordering,
                statistics: config.security.statistics,
                metadata_cache_mb: config.query.metadata_cache_mb,
                engine_options: config.query.engine.clone().into_iter().collect(),
                prices: config.finops.prices.clone(),
                metering: config.finops.metering,
                limits: config.finops.limits.clone(),
                budgets: config.finops.budgets.clone(),
                results_cache: lakegate_planner::ResultsCacheConfig {
                    capacity_bytes: config.cache.results_mb.saturating_mul(1 << 20),
                    max_entry_bytes: config.cache.max_result_mb.saturating_mul(1 << 20),
                    ttl: std::time::Duration::from_secs(config.cache.results_seconds),
                },
                memory: config.query.memory_limits(&config.data_dir),
            },
        )
        .map_err(|e| anyhow::anyhow!("starting the query service: {e}"))?
        .with_running(running);
        if let Some(layer) = semantic {
            service = service.with_semantic(layer);
        }
        let workers = match config.distributed.enabled {
            true => {
                let distribution = crate::worker::distribution(&config)?;
                let workers = distribution.workers.clone();
                service = service.with_distributed(distribution);
                Some(workers)
            }
            false => None,
        };
        let service = Arc::new(service);
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        // The history commits last, after the frontends have finished their queries.
        let history_stop = CancellationToken::new();
        if let Some(history) = &history {
            history
                .claim(service.instance())
                .map_err(|e| anyhow::anyhow!("leasing the query history: {e}"))?;
            // The queries of a gateway that stopped before committing them are still
            // in the audit trail.
            if let Some(path) = &audit_path
                && let Err(e) = lakegate_planner::recover_from_audit(history, path).await
            {
                tracing::error!(error = %e, "the query history may lack queries of a gateway that crashed");
            }
        }
        let history_task = history.map(|history| {
            service.set_history(history.clone());
            let stop = history_stop.clone();
            tokio::spawn(async move { history.run(stop).await })
        });
        if !config.finops.budgets.is_empty() && history_task.is_none() {
            anyhow::bail!(
                "[[finops.budgets]] needs the query history ([finops.history] enabled) \
                 to keep consumption across restarts"
            );
        }
        service
            .load_budgets()
            .await
            .map_err(|e| anyhow::anyhow!("loading budget consumption from the history: {e}"))?;
        if let Some(url) = &config.finops.shared_store {
            let url = url.replace("<data_dir>", &config.data_dir);
            let store = lakegate_planner::SharedStore::open(&url)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            if let Some(workers) = &workers {
                workers.follow(store.clone(), shutdown.clone()).await;
            }
            service.share_with_replicas(store);
            tracing::info!(
                url = %lakegate_planner::redacted_url(&url),
                "budget spending shared with the other replicas"
            );
        }
        let listener = TcpListener::bind(&config.pg.listen)
            .await
            .with_context(|| format!("binding the Postgres listener to {}", config.pg.listen))?;
        let pg_addr = listener.local_addr().context("reading the bound address")?;
        let mut admin_addr = None;
        if config.admin.enabled {
            let admin_listener =
                TcpListener::bind(&config.admin.listen)
                    .await
                    .with_context(|| {
                        format!("binding the admin listener to {}", config.admin.listen)
                    })?;
            let addr = admin_listener
                .local_addr()
                .context("reading the admin address")?;
            let admin = Arc::new(Admin::new(
                users.clone(),
                service.policy().clone(),
                service.metrics().clone(),
                trail.clone(),
                shutdown.clone(),
            ));
            tasks.push(tokio::spawn(admin.serve(admin_listener, shutdown.clone())));
            tracing::info!(admin_addr = %addr, "admin HTTP listening");
            admin_addr = Some(addr);
        }
        let tls = match &config.pg.tls {
            Some(tls) => Some(crate::pg::tls::load(tls)?),
            None => None,
        };
        let mut flight_addr = None;
        if config.flight.enabled {
            let flight = FlightFrontend::new(
                service.clone(),
                users.clone(),
                &config.flight,
                throttle.clone(),
                &external,
            )?;
            let flight_listener = TcpListener::bind(&config.flight.listen)
                .await
                .with_context(|| {
                    format!(
                        "binding the Flight SQL listener to {}",
                        config.flight.listen
                    )
                })?;
            let addr = flight_listener
                .local_addr()
                .context("reading the Flight SQL address")?;
            tasks.push(tokio::spawn(
                flight.serve(flight_listener, shutdown.clone()),
            ));
            tracing::info!(flight_addr = %addr, tls = config.flight.tls.is_some(), "Flight SQL listening");
            flight_addr = Some(addr);
        }
        let frontend = PgFrontend::new(
            service.clone(),
            users.clone(),
            &config.default_schema,
            &config.pg,
            tls,
            throttle.clone(),
            external.any().then(|| external.clone()),
        )?;
        tasks.push(tokio::spawn(frontend.serve(listener, shutdown.clone())));
        tracing::info!(%pg_addr, "Postgres wire listening");
        Ok(Self {
            pg_addr,
            flight_addr,
            admin_addr,
            service,
            users,
            shutdown,
            tasks,
            history_stop,
            history_task,
        })
    }

    /// Where the Postgres wire listener is bound.
    pub fn pg_addr(&self) -> SocketAddr {
        self.pg_addr
    }

    /// Where the Flight SQL listener is bound, if enabled.
    pub fn flight_addr(&self) -> Option<SocketAddr> {
        self.flight_addr
    }

    /// Where the admin HTTP listener is bound, if enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The query service (benchmarks compare against it in-process).
    pub fn service(&self) -> &Arc<QueryService> {
        &self.service
    }

    /// The users who may log in, with their roles' attributes (tests open in-process
    /// sessions as them).
    pub fn users(&self) -> &Arc<UserStore> {
        &self.users
    }

    /// Stops accepting, lets open connections finish (bounded), and returns.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        self.history_stop.cancel();
        if let Some(task) = self.history_task {
            let _ = task.await;
        }
    }
}

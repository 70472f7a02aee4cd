//! The results-cache key of a query: its analyzed (secured, parameter-bound) logical
//! plan, the version of every table it reads and the session's engine settings,
//! hashed with SHA-256 — or no key when the plan's result may change without any of
//! those changing.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::TableProvider;
use datafusion::common::ResolvedTableReference;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::datasource::source_as_provider;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use lakegate_catalog::CatalogRegistry;
use lakegate_catalog::data_version::{current_metadata_location, data_version};
use lakegate_security::view::base_table;
use sha2::{Digest, Sha256};

use crate::rules::plan_nodes::source_row_filter;
use crate::session::Session;

/// A cacheable query's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanKey {
    pub(crate) digest: [u8; 32],
    /// The shortest TTL of the live catalogs it reads (those opted in to caching).
    pub(crate) ttl: Option<Duration>,
    /// How to tell, without planning again, that every table still reads the data
    /// the key names; `None` when some table cannot tell that cheaply.
    pub(crate) checks: Option<Vec<VersionCheck>>,
}

/// What must still hold of one table for a key to name the data it reads now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VersionCheck {
    /// An iceberg-sql table's catalog still lists this metadata file.
    IcebergMetadata {
        catalog: String,
        schema: String,
        table: String,
        location: String,
    },
    /// A table of a live catalog opted in to caching: its results expire by TTL.
    Live,
}

/// Feeds what `Hash` writes into SHA-256: the standard library's hashing of the plan
/// (every node, expression, literal and schema), with a digest no one can aim at.
pub(crate) struct Sha256Hasher(pub(crate) Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only the SHA-256 digest is used.
        0
    }
}

/// What the walk over a plan found.
#[derive(Default)]
struct Inputs {
    /// The version of each table scanned, in plan order.
    versions: Vec<String>,
    ttl: Option<Duration>,
    /// Why the plan is not cacheable, if it is not.
    uncacheable: Option<String>,
    /// The checks of every table, while each can be checked cheaply.
    checks: Option<Vec<VersionCheck>>,
    /// The row filters scans' sources apply, in plan order: a `TableScan` hashes
    /// without its source, and principals with different filters must not share.
    row_filters: Vec<Expr>,
}

/// The digest of the engine's options: settings that change results (the time zone,
/// the default catalog and schema names resolve against, type options of scans) are
/// among them. A session keeps it per settings generation
/// ([`session_options_digest`]).
pub(crate) fn options_digest(options: &ConfigOptions) -> [u8; 32] {
    let mut hasher = Sha256Hasher(Sha256::new());
    for entry in options.entries() {
        entry.key.hash(&mut hasher);
        entry.value.hash(&mut hasher);
    }
    hasher.0.finalize().into()
}

/// The digest of the engine options `state` holds (`session`'s), kept while its
/// settings are unchanged: the options change only with them (`search_path`).
pub(crate) fn session_options_digest(session: &Session, state: &SessionState) -> [u8; 32] {
    let generation = session.settings.generation();
    let mut kept = session
        .options_digest
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match *kept {
        Some((at, digest)) if at == generation => digest,
        _ => {
            let digest = options_digest(state.config_options());
            *kept = Some((generation, digest));
            digest
        }
    }
}

/// The key of `plan` (analyzed: secured and with its parameters bound), or `None`
/// when its result must not be reused: it writes or is not a query, it reads a
/// table without versions from a catalog that did not opt in, or it calls a function
/// whose value is not fixed by its arguments (`now()`, `random()`, …).
/// `options_digest`: the [`options_digest`] of the options `state` holds.
pub(crate) fn plan_key(
    plan: &LogicalPlan,
    state: &SessionState,
    registry: &CatalogRegistry,
    options_digest: &[u8; 32],
) -> Option<PlanKey> {
    let mut inputs = Inputs {
        checks: Some(Vec::new()),
        ..Inputs::default()
    };
    let options = state.config_options();
    let (default_catalog, default_schema) = (
        options.catalog.default_catalog.as_str(),
        options.catalog.default_schema.as_str(),
    );
    let walked = plan.apply_with_subqueries(|node| {
        visit(
            node,
            registry,
            (default_catalog, default_schema),
            &mut inputs,
        );
        Ok(if inputs.uncacheable.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    if let Some(reason) = &inputs.uncacheable {
        tracing::debug!(reason = %reason, "results cache: not cacheable");
        return None;
    }
    if walked.is_err() {
        return None;
    }
    let mut hasher = Sha256Hasher(Sha256::new());
    plan.hash(&mut hasher);
    inputs.versions.hash(&mut hasher);
    inputs.row_filters.hash(&mut hasher);
    options_digest.hash(&mut hasher);
    Some(PlanKey {
        digest: hasher.0.finalize().into(),
        ttl: inputs.ttl,
        checks: inputs.checks,
    })
}

/// Checks one node of the plan, recording the version of what it scans.
fn visit(
    node: &LogicalPlan,
    registry: &CatalogRegistry,
    defaults: (&str, &str),
    inputs: &mut Inputs,
) {
    match node {
        LogicalPlan::Dml(_)
        | LogicalPlan::Ddl(_)
        | LogicalPlan::Copy(_)
        | LogicalPlan::Statement(_)
        | LogicalPlan::Explain(_)
        | LogicalPlan::Analyze(_)
        | LogicalPlan::DescribeTable(_) => {
            inputs.uncacheable = Some(format!("a {} statement", node.display()));
            return;
        }
        // The security rule's barrier above a row filter keeps the plan's meaning
        // (and hashes with it); other extensions are not known to.
        LogicalPlan::Extension(extension) if extension.node.name() != "PolicyBarrier" => {
            inputs.uncacheable = Some(format!("extension {}", extension.node.name()));
            return;
        }
        LogicalPlan::TableScan(scan) => {
            if let Some(filter) = source_row_filter(node) {
                if let Some(reason) = not_fixed(&filter) {
                    inputs.uncacheable = Some(reason);
                    return;
                }
                inputs.row_filters.push(filter);
            }
            // Under the row filter and the columns a policy removed, if it did.
            let base = source_as_provider(&scan.source)
                .ok()
                .map(|provider| base_table(&provider).clone());
            let version = base.as_ref().and_then(|b| data_version(b.as_ref()));
            let resolved = scan.table_name.clone().resolve(defaults.0, defaults.1);
            match version {
                Some(version) => {
                    inputs.versions.push(version);
                    let check = metadata_check(base.as_ref(), &resolved, registry);
                    match (check, inputs.checks.as_mut()) {
                        (Some(check), Some(checks)) => checks.push(check),
                        _ => inputs.checks = None,
                    }
                }
                None => match registry.results_cache_ttl(&resolved.catalog) {
                    Some(ttl) => {
                        inputs.versions.push(format!("live:{resolved}"));
                        inputs.ttl = Some(inputs.ttl.map_or(ttl, |t| t.min(ttl)));
                        if let Some(checks) = inputs.checks.as_mut() {
                            checks.push(VersionCheck::Live);
                        }
                    }
                    None => {
                        inputs.uncacheable = Some(format!("{resolved} has no versions"));
                        return;
                    }
                },
            }
        }
        _ => {}
    }
    let _ = node.apply_expressions(|expr| {
        if let Some(reason) = not_fixed(expr) {
            inputs.uncacheable = Some(reason);
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

/// Why `expr`'s value is not fixed by the data and its arguments, if it is not: it
/// calls a function that is not immutable (`now()`, `random()`, …).
fn not_fixed(expr: &Expr) -> Option<String> {
    let mut reason = None;
    let _ = expr.apply(|e| {
        if let Expr::ScalarFunction(f) = e
            && f.func.signature().volatility != Volatility::Immutable
        {
            reason = Some(format!("{}() is not immutable", f.func.name()));
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    reason
}

/// The cheap check of a scanned table: its iceberg-sql catalog still lists the
/// metadata file it was read from. `None` for any other table.
fn metadata_check(
    base: Option<&Arc<dyn TableProvider>>,
    resolved: &ResolvedTableReference,
    registry: &CatalogRegistry,
) -> Option<VersionCheck> {
    let location = current_metadata_location(base?.as_ref())?;
    registry
        .get(&resolved.catalog)
        .is_some_and(|c| c.lake.reads_metadata_locations())
        .then(|| VersionCheck::IcebergMetadata {
            catalog: resolved.catalog.to_string(),
            schema: resolved.schema.to_string(),
            table: resolved.table.to_string(),
            location: location.to_string(),
        })
}

/// The checks of every table `plan` scans, whether or not its result is cacheable, or
/// `None` when one table cannot be checked cheaply (only iceberg-sql tables can) or
/// the plan holds an extension other than the security rule's barrier.
pub(crate) fn table_checks(
    plan: &LogicalPlan,
    state: &SessionState,
    registry: &CatalogRegistry,
) -> Option<Vec<VersionCheck>> {
    let options = state.config_options();
    let (default_catalog, default_schema) = (
        options.catalog.default_catalog.as_str(),
        options.catalog.default_schema.as_str(),
    );
    let mut checks = Some(Vec::new());
    let walked = plan.apply_with_subqueries(|node| {
        let check = match node {
            LogicalPlan::Extension(extension) if extension.node.name() != "PolicyBarrier" => None,
            LogicalPlan::TableScan(scan) => {
                let base = source_as_provider(&scan.source)
                    .ok()
                    .map(|provider| base_table(&provider).clone());
                let resolved = scan
                    .table_name
                    .clone()
                    .resolve(default_catalog, default_schema);
                let versioned = base.filter(|b| data_version(b.as_ref()).is_some());
                metadata_check(versioned.as_ref(), &resolved, registry)
            }
            _ => return Ok(TreeNodeRecursion::Continue),
        };
        match (check, checks.as_mut()) {
            (Some(check), Some(list)) => {
                list.push(check);
                Ok(TreeNodeRecursion::Continue)
            }
            _ => {
                checks = None;
                Ok(TreeNodeRecursion::Stop)
            }
        }
    });
    walked.ok()?;
    checks
}

/// Whether every table still reads the data `checks` name: one query to the
/// catalog's database per table, no metadata parsed.
pub(crate) async fn checks_hold(checks: &[VersionCheck], registry: &CatalogRegistry) -> bool {
    for check in checks {
        let current = match check {
            VersionCheck::IcebergMetadata {
                catalog,
                schema,
                table,
                location,
            } => match registry.get(catalog) {
                Some(registered) => {
                    registered
                        .lake
                        .metadata_is_current(schema, table, location)
                        .await
                }
                None => None,
            },
            // Its result expires by its TTL.
            VersionCheck::Live => Some(true),
        };
        if current != Some(true) {
            return false;
        }
    }
    true
}

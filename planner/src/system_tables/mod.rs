//! The `system` catalog's tables, registered here and nowhere else: queries running
//! now (`system.runtime.queries`), the query history (`system.history.queries`), the
//! FinOps views over it (`system.finops.*`), the audit trail (`system.audit.events`) and
//! the policy versions loaded (`system.security.policy_versions`).
//! A new system table is a file in this folder and one registration below.

pub(crate) mod audit;
pub(crate) mod finops;
pub(crate) mod history;
pub(crate) mod policy_versions;
pub(crate) mod runtime;

use std::sync::Arc;

use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider,
};

use crate::history::HistoryStore;
use crate::query_registry::QueryRegistry;
use crate::{ErrorKind, QueryError};

fn failed(what: &str, e: impl std::fmt::Display) -> QueryError {
    QueryError::new(ErrorKind::Internal, format!("{what}: {e}"))
}

/// Adds `system.security.policy_versions` to the `system` catalog, once the policy
/// store exists (the store is checked against the catalogs, `system` among them).
pub fn register_policy_versions(
    system: &Arc<dyn CatalogProvider>,
    store: Arc<lakegate_security::policy::PolicyStore>,
) -> crate::Result<()> {
    let schema = MemorySchemaProvider::new();
    schema
        .register_table(
            "policy_versions".into(),
            Arc::new(policy_versions::PolicyVersionsTable::new(store)),
        )
        .map_err(|e| failed("registering system.security.policy_versions", e))?;
    system
        .register_schema("security", Arc::new(schema))
        .map_err(|e| failed("registering system.security", e))?;
    Ok(())
}

/// The `system` catalog: `system.runtime.queries` always, `system.history` and
/// `system.finops` with the query history, `system.audit.events` with the audit trail.
pub async fn system_catalog(
    audit_path: Option<&std::path::Path>,
    history: Option<Arc<HistoryStore>>,
    running: Arc<QueryRegistry>,
) -> crate::Result<Arc<dyn CatalogProvider>> {
    let catalog = MemoryCatalogProvider::new();
    let runtime_schema = MemorySchemaProvider::new();
    runtime_schema
        .register_table(
            "queries".into(),
            Arc::new(runtime::RuntimeQueriesTable::new(running)),
        )
        .map_err(|e| failed("registering system.runtime.queries", e))?;
    catalog
        .register_schema("runtime", Arc::new(runtime_schema))
        .map_err(|e| failed("registering system.runtime", e))?;
    if let Some(store) = history {
        let history_schema = MemorySchemaProvider::new();
        history_schema
            .register_table(
                "queries".into(),
                Arc::new(history::HistoryTable::new(store.clone())),
            )
            .map_err(|e| failed("registering system.history.queries", e))?;
        catalog
            .register_schema("history", Arc::new(history_schema))
            .map_err(|e| failed("registering system.history", e))?;
        let finops = finops::finops_schema(store).await?;
        catalog
            .register_schema("finops", finops)
            .map_err(|e| failed("registering system.finops", e))?;
    }
    if let Some(path) = audit_path {
        let audit_schema = MemorySchemaProvider::new();
        audit_schema
            .register_table("events".into(), audit::events_table(path)?)
            .map_err(|e| failed("registering system.audit.events", e))?;
        catalog
            .register_schema("audit", Arc::new(audit_schema))
            .map_err(|e| failed("registering system.audit", e))?;
    }
    Ok(Arc::new(catalog))
}

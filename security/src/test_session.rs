//! A session for unit tests of the security rule: a principal under a policy, one
//! in-memory table behind the secured catalog view. It stands outside `rules` and
//! `view` because it uses both.

use std::sync::{Arc, Mutex};

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::datasource::MemTable;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::optimizer::Analyzer;
use datafusion::prelude::SessionContext;

use crate::Principal;
use crate::policy::{PolicySource, PolicyStore, StatisticsMode};
use crate::rules::{AccessReport, SecureScans};
use crate::view::SecuredCatalog;

/// A session for `principal` under `policy`, whose catalog `lake` holds `lake.s.<name>`
/// behind the secured catalog view, with the security rule in its analyzer.
pub(crate) async fn secured_context(
    policy: &str,
    principal: Principal,
    name: &str,
    table: MemTable,
    statistics: StatisticsMode,
) -> SessionContext {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("secure-scan-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("policy.csv");
    std::fs::write(&path, policy).expect("policy");
    let store = Arc::new(
        PolicyStore::load(PolicySource {
            model: None,
            policy: Some(path),
        })
        .await
        .expect("policy"),
    );
    let rule = Arc::new(
        SecureScans::new(
            principal.clone(),
            store.clone(),
            Arc::new(Mutex::new(AccessReport::default())),
        )
        .with_sources(statistics, |_| false),
    );
    let mut rules = Analyzer::new().rules;
    let at = rules
        .iter()
        .position(|r| r.name() == "type_coercion")
        .unwrap_or(0);
    rules.insert(at, rule);
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_analyzer_rules(rules)
        .build();
    state.config_mut().options_mut().catalog.default_catalog = "lake".into();
    state.config_mut().options_mut().catalog.default_schema = "s".into();
    let ctx = SessionContext::new_with_state(state);
    let schema_provider = Arc::new(MemorySchemaProvider::new());
    datafusion::catalog::SchemaProvider::register_table(
        schema_provider.as_ref(),
        name.into(),
        Arc::new(table),
    )
    .expect("register");
    let catalog = Arc::new(MemoryCatalogProvider::new());
    catalog
        .register_schema("s", schema_provider)
        .expect("schema");
    ctx.register_catalog(
        "lake",
        Arc::new(SecuredCatalog::new(
            "lake",
            catalog,
            Arc::new(principal),
            store,
        )),
    );
    ctx
}

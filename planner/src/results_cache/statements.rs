//! The statement front of the results cache: a query sent again, by the same
//! principal with the same settings, finds its result without being planned again.
//!
//! A hit through the plan key still pays for rewriting, SQL-to-plan, every table's
//! resolution and the analyzer (the security rule among them), several milliseconds
//! of a small query's time. Here the statement's syntax tree, its parameters and what
//! planning it depended on (the principal, the session's settings and default schema)
//! name the plan key it was planned to last time. That key still names the data read
//! now when the policy and the semantic models are the ones it was planned under, and
//! every table's catalog still lists the metadata file that was read (one query to
//! the catalog's database per table, no metadata parsed). Otherwise the statement is
//! planned as usual.

use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use lakegate_catalog::CatalogRegistry;
use lakegate_security::policy::Policy;
use lakegate_security::rules::AccessReport;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use super::key::PlanKey;
use super::key::Sha256Hasher;
use crate::semantic_layer::LoadedModels;
use crate::session::Session;

/// Statements remembered; each entry is a few hundred bytes.
pub(crate) const STATEMENTS: u64 = 8192;

/// What a statement was last planned to, and under what.
pub(crate) struct StatementEntry {
    /// The plan key (its checks are all cheap ones).
    pub(crate) key: PlanKey,
    /// The policy it was secured under.
    policy: Arc<Policy>,
    /// The semantic models it was expanded with.
    models: Option<Arc<LoadedModels>>,
    /// What the security rule applied, for the audit record of a hit.
    pub(crate) access: AccessReport,
    /// The schema its rows are streamed under.
    pub(crate) announced: SchemaRef,
}

impl std::fmt::Debug for StatementEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementEntry")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The statement key: the query's syntax tree, its parameter values, the principal,
/// the session's settings (by generation) and the catalog and schema unqualified
/// names resolve in. `None` for statements other than queries.
pub(crate) fn statement_key(
    statement: &DFStatement,
    params: &[ScalarValue],
    session: &Session,
) -> Option<[u8; 32]> {
    let DFStatement::Statement(statement) = statement else {
        return None;
    };
    if !matches!(statement.as_ref(), SqlStatement::Query(_)) {
        return None;
    }
    let mut hasher = Sha256Hasher(Sha256::new());
    statement.hash(&mut hasher);
    params.hash(&mut hasher);
    let principal = &session.principal;
    principal.user.hash(&mut hasher);
    principal.roles.hash(&mut hasher);
    principal.attributes.hash(&mut hasher);
    session.settings.generation().hash(&mut hasher);
    {
        let state = session.ctx.state_ref();
        let state = state.read();
        let catalog = &state.config_options().catalog;
        catalog.default_catalog.hash(&mut hasher);
        catalog.default_schema.hash(&mut hasher);
    }
    Some(hasher.0.finalize().into())
}

impl StatementEntry {
    /// What `key`'s statement was planned to, with what the security rule applied
    /// and the schema it announced, remembered only when every table it reads can
    /// be checked cheaply.
    pub(crate) fn new(
        key: &PlanKey,
        policy: Arc<Policy>,
        models: Option<Arc<LoadedModels>>,
        access: AccessReport,
        announced: SchemaRef,
    ) -> Option<Self> {
        key.checks.as_ref()?;
        Some(Self {
            key: key.clone(),
            policy,
            models,
            access,
            announced,
        })
    }

    /// Whether every table still reads the data the key names.
    pub(crate) async fn tables_unchanged(&self, registry: &CatalogRegistry) -> bool {
        match self.key.checks.as_deref() {
            Some(checks) => super::key::checks_hold(checks, registry).await,
            None => false,
        }
    }
}

/// The plan keys recently run statements were planned to.
#[derive(Debug)]
pub(crate) struct StatementMap {
    entries: Cache<[u8; 32], Arc<StatementEntry>>,
}

impl StatementMap {
    /// What the statement keyed `statement` was planned to, if it was planned under
    /// `policy` and `models`.
    pub(crate) fn planned_under(
        &self,
        statement: &[u8; 32],
        policy: &Arc<Policy>,
        models: Option<&Arc<LoadedModels>>,
    ) -> Option<Arc<StatementEntry>> {
        let entry = self.entries.get(statement)?;
        let same_models = match (&entry.models, models) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        (Arc::ptr_eq(&entry.policy, policy) && same_models).then_some(entry)
    }

    /// Remembers what the statement keyed `statement` was planned to.
    pub(crate) fn remember(&self, statement: [u8; 32], entry: StatementEntry) {
        self.entries.insert(statement, Arc::new(entry));
    }
}

/// A bounded map of statement keys to what they were planned to.
pub(crate) fn statement_map(ttl: std::time::Duration) -> StatementMap {
    StatementMap {
        entries: Cache::builder()
            .max_capacity(STATEMENTS)
            .time_to_live(ttl)
            .build(),
    }
}

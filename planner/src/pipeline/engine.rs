//! What every statement's run shares: the catalogs, the policy, the runtime and
//! executor, admission gates, the registry of running queries, the semantic layer, the
//! results cache and where finished statements are recorded.

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use lakegate_catalog::CatalogRegistry;
use lakegate_security::policy::PolicyStore;

use crate::config::PlannerConfig;
use crate::metering::Admission;
use crate::pipeline::executor::CpuExecutor;
use crate::pipeline::finish::StatementRecorder;
use crate::query_registry::QueryRegistry;
use crate::results_cache::ResultCache;
use crate::semantic_layer::SemanticLayer;

/// The state every stage reads; one per [`crate::QueryService`].
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) registry: Arc<CatalogRegistry>,
    pub(crate) policy: Arc<PolicyStore>,
    /// Audit trail, history, budgets and metrics.
    pub(crate) recorder: Arc<StatementRecorder>,
    pub(crate) config: PlannerConfig,
    pub(crate) runtime: Arc<RuntimeEnv>,
    /// Slots and queues of the concurrency limits.
    pub(crate) admission: Admission,
    /// The queries queued and running now.
    pub(crate) queries: Arc<QueryRegistry>,
    /// Where plans execute: threads apart from those serving connections.
    pub(crate) executor: CpuExecutor,
    /// Semantic models served as tables, when configured.
    pub(crate) semantic: Option<Arc<SemanticLayer>>,
    /// Results served again for the same secured plan over the same data (unless off).
    pub(crate) results: Option<Arc<ResultCache>>,
    /// The values of small row-filter lookups, by secured plan and data version.
    pub(crate) lookup_values: crate::pipeline::lookup_cache::LookupValues,
    /// Distributed workers large queries run on, when configured.
    pub(crate) distributed: Option<Arc<crate::distributed::Distribution>>,
}

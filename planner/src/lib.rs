//! SQL meaning: the one [`QueryService`] every frontend calls.
//!
//! A frontend authenticates a connection, opens a [`Session`] for its principal, and
//! hands each statement to [`QueryService::prepare`] and [`QueryService::execute`]. Session
//! statements (SET, SHOW, BEGIN…) are answered here from the parsed statement; queries
//! are planned by DataFusion against the registered catalogs and returned as a stream.

mod catalog_listing;
mod config;
pub mod distributed;
mod error;
mod error_kind;
mod error_text;
pub mod history;
pub mod ipc_batch;
mod metering;
mod panic_guard;
mod pipeline;
mod query_registry;
mod query_registry_shared;
mod results_cache;
mod rules;
mod semantic_layer;
mod semantic_tables;
mod service;
mod session;
mod sql;
mod statements;
mod system_tables;

pub use config::{ENGINE_DEFAULTS, MemoryLimits, PlannerConfig};
pub use error::{QueryError, Result};
pub use error_kind::ErrorKind;
pub use history::recovery::recover_from_audit;
pub use lakegate_pg_compat::listing::{ListedTable, TableFilter, like};
/// What changed between two sets of semantic models (`gateway semantic diff`).
pub use lakegate_semantic::diff as diff_semantic;
pub use metering::{
    Budget, BudgetLedger, BudgetMode, BudgetPeriod, Metrics, PriceList, QueryFigures, QueryLimit,
    SharedStore, redacted_url,
};
pub use query_registry::QueryRegistry;
pub use results_cache::ResultsCacheConfig;
pub use semantic_layer::{
    LoadedModels, ModelSource, SemanticLayer, compile as compile_semantic, load as load_semantic,
};
pub use service::{QueryService, worker_runtime};

/// The stack of every thread that plans or runs queries. DataFusion's SQL planner,
/// analyzer and optimizer recurse over the plan and its expressions; tokio's 2 MiB
/// default overflowed (aborting the process) on a statement of four nested function
/// calls in a debug build, found by the SQL fuzz test. sqlparser bounds the nesting
/// (recursion limit 50), so a fixed stack suffices.
pub const THREAD_STACK_BYTES: usize = 16 << 20;
pub use session::{ClientOrigin, Notice, Session};
pub use sql::placeholders::number_placeholders;
pub use statements::copy::{CopyFormat, CopyOptions};
pub use statements::prepared::{Outcome, Prepared, StatementKind};
pub use system_tables::{register_policy_versions, system_catalog};

/// Re-exported so frontends name parameter values and types without their own
/// DataFusion dependency drifting.
pub use datafusion::arrow::datatypes::{DataType, SchemaRef};
pub use datafusion::scalar::ScalarValue;

//! SQL meaning: the one [`QueryService`] every frontend calls.
//!
//! A frontend authenticates a connection, opens a [`Session`] for its principal, and
//! hands each statement to [`QueryService::prepare`] and [`QueryService::execute`]. Session
//! statements (SET, SHOW, BEGIN…) are answered here from the parsed statement; queries
//! are planned by DataFusion against the registered catalogs and returned as a stream.

mod catalog_listing;
mod error;
pub mod history;
mod metering;
mod pg_catalog;
mod pg_functions;
mod pipeline;
mod query_registry;
mod result_cache;
mod rules;
mod semantic_layer;
mod semantic_tables;
mod service;
mod session;
mod sql;
mod statements;
mod system_tables;

pub use catalog_listing::{ListedTable, TableFilter, like};
pub use statements::copy::{CopyFormat, CopyOptions};
pub use error::{ErrorKind, QueryError, Result};
pub use system_tables::finops::finops_schema;
pub use history::recovery::recover_from_audit;
pub use system_tables::history::HistoryTable;
pub use metering::{
    Budget, BudgetLedger, BudgetMode, BudgetPeriod, Metrics, PriceList, QueryFigures, QueryLimit,
};
pub use pg_catalog::type_map;
pub use pg_catalog::{PG_CATALOG, PG_TYPE_METADATA, regproc_name, regtype_name, type_oid};
pub use sql::placeholders::number_placeholders;
pub use query_registry::RunningQueries;
pub use system_tables::runtime::RuntimeQueriesTable;
pub use semantic_layer::{
    LoadedModels, ModelSource, SemanticLayer, compile as compile_semantic, load as load_semantic,
};
pub use service::{ENGINE_DEFAULTS, Outcome, PlannerConfig, Prepared, QueryService, StatementKind};
pub use session::{ClientOrigin, Notice, Session};
pub use session::settings::{SERVER_VERSION, SERVER_VERSION_NUM};

/// Re-exported so frontends name parameter values and types without their own
/// DataFusion dependency drifting.
pub use datafusion::arrow::datatypes::{DataType, SchemaRef};
pub use datafusion::scalar::ScalarValue;

//! SQL meaning: the one [`QueryService`] every frontend calls.
//!
//! A frontend authenticates a connection, opens a [`Session`] for its principal, and
//! hands each statement to [`QueryService::prepare`] and [`QueryService::execute`]. Session
//! statements (SET, SHOW, BEGIN…) are answered here from the parsed statement; queries
//! are planned by DataFusion against the registered catalogs and returned as a stream.

mod audit_trail;
mod cancel_points;
mod catalog_listing;
mod completion;
mod copy;
mod cursors;
mod deadline;
mod error;
mod executor;
mod explain_cost;
mod finops_views;
pub mod history;
mod history_recovery;
mod history_table;
mod join_estimates;
mod join_order;
mod limit_pushdown;
mod metering;
mod optimize;
mod output_names;
mod parse;
mod pg_catalog;
mod pg_functions;
mod placeholders;
mod plan_nodes;
mod procedures;
mod result_cache;
mod result_schema;
mod runtime;
mod runtime_table;
mod semantic_layer;
mod semantic_tables;
mod semi_join_reduction;
mod service;
mod session;
mod session_statements;
mod settings;
#[cfg(test)]
mod sized_table;
mod time_travel;
mod transaction;
mod writes;

pub use catalog_listing::{ListedTable, TableFilter, like};
pub use copy::{CopyFormat, CopyOptions};
pub use error::{ErrorKind, QueryError, Result};
pub use finops_views::finops_schema;
pub use history_recovery::recover_from_audit;
pub use history_table::HistoryTable;
pub use metering::{
    Budget, BudgetLedger, BudgetMode, BudgetPeriod, Metrics, PriceList, QueryFigures, QueryLimit,
};
pub use pg_catalog::type_map;
pub use pg_catalog::{PG_CATALOG, PG_TYPE_METADATA, regproc_name, regtype_name, type_oid};
pub use placeholders::number_placeholders;
pub use runtime::RunningQueries;
pub use runtime_table::RuntimeQueriesTable;
pub use semantic_layer::{
    LoadedModels, ModelSource, SemanticLayer, compile as compile_semantic, load as load_semantic,
};
pub use service::{ENGINE_DEFAULTS, Outcome, PlannerConfig, Prepared, QueryService, StatementKind};
pub use session::{ClientOrigin, Notice, Session};
pub use settings::{SERVER_VERSION, SERVER_VERSION_NUM};

/// Re-exported so frontends name parameter values and types without their own
/// DataFusion dependency drifting.
pub use datafusion::arrow::datatypes::{DataType, SchemaRef};
pub use datafusion::scalar::ScalarValue;

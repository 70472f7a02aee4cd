//! PostgreSQL emulation that is not SQL meaning: what a PostgreSQL client expects to
//! find besides its query's answer.
//!
//! - [`catalog`]: `pg_catalog` and the PostgreSQL-shaped `information_schema` views,
//!   built from the principal-filtered catalogs of a session; catalog functions
//!   (`format_type`, `pg_get_expr`, …) and the rewrites of catalog queries clients send.
//! - [`functions`]: PostgreSQL's meaning for function names and operators where
//!   DataFusion's differs (`to_char`, integer and date arithmetic, …).
//! - [`listing`]: the one principal-filtered listing of catalogs, schemas and tables
//!   (Flight SQL's `CommandGet*` and pg_catalog read it).
//! - [`output_names`]: PostgreSQL's names of unaliased result columns.
//! - [`catalog::type_map`]: the Arrow → PostgreSQL type map both protocols' encoders use.
//!
//! The planner installs these into each session; the gateway's `pg/` encodes with the
//! type map. Nothing here decides who may see what: every catalog it reads is already
//! the principal's view.

pub mod catalog;
pub mod functions;
pub mod listing;
pub mod output_names;
#[cfg(test)]
mod test_sql;

/// The PostgreSQL version the gateway reports.
pub const SERVER_VERSION: &str = "16.6";
/// The same, as `server_version_num`.
pub const SERVER_VERSION_NUM: &str = "160006";

/// The prefix of an execution error that is PostgreSQL's 22003 ("integer out of
/// range"), as the checked arithmetic here raises it.
pub const OUT_OF_RANGE: &str = "out of range:";

/// The prefix of an execution error that is PostgreSQL's 54000 ("requested length too
/// large"), as the guarded string functions raise it.
pub const LIMIT_EXCEEDED: &str = "program limit exceeded:";

//! `pg_catalog`: the system catalog PostgreSQL clients read on connect and while
//! browsing, built from the live catalog as the session's principal sees it.
//!
//! Every catalog gets a `pg_catalog` schema (like DataFusion's `information_schema`);
//! unqualified names of its tables resolve there first, as in PostgreSQL, where
//! pg_catalog is implicitly at the front of every search_path.

mod catalog_functions;
mod column_tags;
mod empty_joins;
mod functions;
mod information_schema;
mod keywords;
mod oids;
mod pg_class;
mod pg_type;
mod rewrite;
mod rows;
mod session_catalog;
mod tables;
pub mod type_map;

pub use catalog_functions::{regtype_name, split_name};
pub use column_tags::ColumnTags;
pub use functions::register_functions;
pub use oids::{PG_CATALOG, PG_TYPE_METADATA};
pub use pg_type::{regproc_name, type_oid};
pub use rewrite::{qualify_catalog_tables, rewrite_postgres_syntax};
pub use session_catalog::{PgCatalogContext, WithPgCatalog};

//! Where data lives: the registry of named catalogs, the embedded Iceberg lakehouse and
//! demo-data seeding.
//!
//! Every catalog is exposed to DataFusion as a `CatalogProvider` whose tables are loaded
//! from their source when a statement is planned, so metadata never goes stale and each
//! statement reads one pinned snapshot per table.

mod config;
mod error;
pub mod estimate;
pub mod files;
pub mod iceberg;
pub mod metering;
mod postgres;
mod registry;
mod scan_counter;
pub mod seed;
pub mod tpch;

pub use config::{CatalogConfig, CatalogType};
pub use error::{CatalogError, Result, WriteError};
pub use registry::{CatalogRegistry, RegisteredCatalog};

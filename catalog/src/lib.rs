//! Where data lives: the registry of named catalogs, the embedded Iceberg lakehouse and
//! demo-data seeding.
//!
//! Every catalog is exposed to DataFusion as a `CatalogProvider` whose tables are loaded
//! from their source when a statement is planned, so metadata never goes stale and each
//! statement reads one pinned snapshot per table.

mod config;
mod counting_reader;
mod counting_store;
pub mod data_version;
pub mod delta;
mod error;
pub mod estimate;
pub mod files;
pub mod iceberg;
mod listed;
pub mod metadata_cache;
mod metered_files;
pub mod metering;
mod postgres;
mod registry;
mod s3;
mod scan_counter;
pub mod seed;
pub mod seed_entitlements;
pub mod tpch;

pub use config::{CatalogConfig, CatalogType};
pub use counting_store::CountingObjectStore;
pub use error::{CatalogError, Result, SourceError, SourceFault, WriteError};
pub use listed::ListedCatalog;
pub use registry::{CatalogRegistry, RegisteredCatalog};
pub use scan_counter::{CountRowsExec, FIGURE_METRICS, figures_from_metrics};

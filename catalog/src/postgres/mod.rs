//! A live PostgreSQL database as a catalog: its schemas and tables, addressed as
//! `catalog.schema.table`, looked up when a statement resolves them. Queries over them
//! are pushed down through datafusion-federation (see [`federation`]); with
//! `pushdown = false` every scan reads the projected columns of all rows instead.

mod executor;
mod federation;
mod remote_scan;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::error::Result as DFResult;
use datafusion_federation::FederatedTableProviderAdaptor;
use datafusion_federation::sql::{RemoteTableRef, SQLFederationProvider, SQLTableSource};

pub use executor::PostgresExecutor;
use remote_scan::RemoteScanTable;

use crate::{CatalogConfig, CatalogError, Result};

/// Schema name → table names, as last listed.
type Listing = BTreeMap<String, Vec<String>>;

/// One PostgreSQL database, exposed as a DataFusion catalog.
#[derive(Debug)]
pub struct PostgresCatalog {
    name: String,
    executor: Arc<PostgresExecutor>,
    federation: Arc<SQLFederationProvider>,
    pushdown: bool,
    listing: RwLock<Listing>,
}

impl PostgresCatalog {
    /// Connects to the database of `config` (its `uri`, with the password from the
    /// environment variable `password_env` if set) and lists its tables.
    pub async fn open(config: &CatalogConfig) -> Result<Self> {
        let error = |message: String| CatalogError::Config {
            catalog: config.name.clone(),
            message,
        };
        let uri = config
            .uri
            .as_deref()
            .ok_or_else(|| error("a postgres catalog needs `uri`".into()))?;
        let password = match &config.password_env {
            Some(variable) => Some(std::env::var(variable).map_err(|_| {
                error(format!(
                    "environment variable {variable} (password_env) is not set"
                ))
            })?),
            None => None,
        };
        let executor = Arc::new(PostgresExecutor::new(&config.name, uri, password).map_err(error)?);
        let catalog = Self {
            name: config.name.clone(),
            federation: federation::provider(executor.clone()),
            executor,
            pushdown: config.pushdown.unwrap_or(true),
            listing: RwLock::new(Listing::new()),
        };
        catalog.refresh_listing().await?;
        Ok(catalog)
    }

    /// Lists schemas and tables again (for synchronous introspection only).
    pub async fn refresh_listing(&self) -> Result<()> {
        let context = |what: &str| format!("{what} of PostgreSQL catalog {}", self.name);
        let mut listing = Listing::new();
        let schemas =
            self.executor
                .schema_names()
                .await
                .map_err(|source| CatalogError::DataFusion {
                    context: context("listing schemas"),
                    source,
                })?;
        for schema in schemas {
            let tables = self
                .executor
                .table_names_in(&schema)
                .await
                .map_err(|source| CatalogError::DataFusion {
                    context: context("listing tables"),
                    source,
                })?;
            listing.insert(schema, tables);
        }
        *self.listing.write().unwrap_or_else(|e| e.into_inner()) = listing;
        Ok(())
    }
}

impl CatalogProvider for PostgresCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let listing = self.listing.read().unwrap_or_else(|e| e.into_inner());
        listing.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let listing = self.listing.read().unwrap_or_else(|e| e.into_inner());
        Some(Arc::new(PostgresSchema {
            schema: name.to_string(),
            tables: listing.get(name).cloned().unwrap_or_default(),
            executor: self.executor.clone(),
            federation: self.federation.clone(),
            pushdown: self.pushdown,
        }))
    }
}

/// One schema of the database.
#[derive(Debug)]
struct PostgresSchema {
    schema: String,
    /// Names as last listed, for synchronous introspection only.
    tables: Vec<String>,
    executor: Arc<PostgresExecutor>,
    federation: Arc<SQLFederationProvider>,
    pushdown: bool,
}

#[async_trait]
impl SchemaProvider for PostgresSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.tables.clone()
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        // Asked of the database each time: a table created there is seen at once.
        let Some(schema) = self.executor.table_schema(&self.schema, name).await? else {
            return Ok(None);
        };
        let remote = TableReference::partial(self.schema.as_str(), name);
        let scan = Arc::new(RemoteScanTable::new(
            self.executor.clone(),
            remote.clone(),
            schema.clone(),
        ));
        if !self.pushdown {
            return Ok(Some(scan));
        }
        let source = Arc::new(SQLTableSource::new_with_schema(
            self.federation.clone(),
            RemoteTableRef::from(remote),
            schema,
        ));
        // The federation rule plans through the source; the scan is the fallback.
        Ok(Some(Arc::new(
            FederatedTableProviderAdaptor::new_with_provider(source, scan),
        )))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t == name)
    }
}

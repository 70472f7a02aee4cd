//! A live PostgreSQL database as a catalog: its schemas and tables, addressed as
//! `catalog.schema.table`, looked up when a statement resolves them. Queries over them
//! are pushed down through datafusion-federation (see [`federation`]); with
//! `pushdown = false` every scan reads the projected columns of all rows instead.

mod executor;
mod federation;
mod remote_scan;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::error::Result as DFResult;
use datafusion_federation::FederatedTableProviderAdaptor;
use datafusion_federation::sql::{RemoteTableRef, SQLFederationProvider, SQLTableSource};

pub use executor::PostgresExecutor;
use remote_scan::RemoteScanTable;

use crate::listed::{ListedCatalog, Listing, Source};
use crate::{CatalogConfig, CatalogError, Result};

/// Connects to the database of `config` (its `uri`, with the password from the
/// environment variable `password_env` if set) and lists its tables.
pub(crate) async fn open(config: &CatalogConfig) -> Result<ListedCatalog> {
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
    ListedCatalog::open(Arc::new(Database {
        name: config.name.clone(),
        federation: federation::provider(executor.clone()),
        executor,
        pushdown: config.pushdown.unwrap_or(true),
    }))
    .await
}

/// One PostgreSQL database, the source of a listed catalog.
#[derive(Debug)]
struct Database {
    name: String,
    executor: Arc<PostgresExecutor>,
    federation: Arc<SQLFederationProvider>,
    pushdown: bool,
}

#[async_trait]
impl Source for Database {
    async fn list(&self) -> Result<Listing> {
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
        Ok(listing)
    }

    async fn table(
        &self,
        schema_name: &str,
        name: &str,
    ) -> DFResult<Option<Arc<dyn TableProvider>>> {
        // Asked of the database each time: a table created there is seen at once.
        let Some(schema) = self.executor.table_schema(schema_name, name).await? else {
            return Ok(None);
        };
        let remote = TableReference::partial(schema_name, name);
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
}

//! Catalogs over a live source (a PostgreSQL database, a directory of files or of Delta
//! tables): the source's schemas and tables are listed for introspection, which
//! DataFusion reads synchronously, and every table a statement names is looked up in
//! the source when the statement is planned, so a table created there is seen at once.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::Result as DFResult;

use crate::Result;

/// Schema name → table names, as last listed.
pub(crate) type Listing = BTreeMap<String, Vec<String>>;

/// A catalog over a directory tree (files, Delta) as opened: the catalog, and the URL
/// and store its tables are read from (registered in each query's runtime, counting
/// that query's reads).
pub(crate) type Opened = (
    ListedCatalog,
    (url::Url, Arc<dyn object_store::ObjectStore>),
);

/// The path of `parts` under the directory `root`.
pub(crate) fn path_under(
    root: &datafusion::datasource::listing::ListingTableUrl,
    parts: &[&str],
) -> object_store::path::Path {
    parts
        .iter()
        .fold(root.prefix().clone(), |path, part| path.join(*part))
}

/// Where a listed catalog's schemas and tables come from.
#[async_trait]
pub(crate) trait Source: Debug + Send + Sync + 'static {
    /// Every schema and its tables, as the source has them now.
    async fn list(&self) -> Result<Listing>;

    /// The table `schema.name` as the source has it now, or `None`.
    async fn table(&self, schema: &str, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>>;
}

/// A catalog whose tables are looked up in its [`Source`] when a statement names them.
#[derive(Debug)]
pub struct ListedCatalog {
    source: Arc<dyn Source>,
    listing: RwLock<Listing>,
}

impl ListedCatalog {
    /// The catalog of `source`, listed once.
    pub(crate) async fn open(source: Arc<dyn Source>) -> Result<Self> {
        let catalog = Self {
            source,
            listing: RwLock::new(Listing::new()),
        };
        catalog.refresh_listing().await?;
        Ok(catalog)
    }

    /// Lists schemas and tables again (for synchronous introspection only: lookups
    /// always ask the source).
    pub async fn refresh_listing(&self) -> Result<()> {
        let listing = self.source.list().await?;
        *self.listing.write().unwrap_or_else(|e| e.into_inner()) = listing;
        Ok(())
    }
}

impl CatalogProvider for ListedCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let listing = self.listing.read().unwrap_or_else(|e| e.into_inner());
        listing.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let listing = self.listing.read().unwrap_or_else(|e| e.into_inner());
        Some(Arc::new(ListedSchema {
            source: self.source.clone(),
            schema: name.to_string(),
            tables: listing.get(name).cloned().unwrap_or_default(),
        }))
    }
}

/// One schema of a listed catalog.
#[derive(Debug)]
struct ListedSchema {
    source: Arc<dyn Source>,
    schema: String,
    /// Names as last listed, for synchronous introspection only.
    tables: Vec<String>,
}

#[async_trait]
impl SchemaProvider for ListedSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.tables.clone()
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        self.source.table(&self.schema, name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t == name)
    }
}

//! The registry of named catalogs built from configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::catalog::CatalogProvider;

use crate::files::FilesCatalog;
use crate::iceberg::LakeCatalog;
use crate::postgres::PostgresCatalog;
use crate::{CatalogConfig, CatalogError, CatalogType, Result};

/// A catalog the gateway serves: its name and the provider DataFusion plans against.
#[derive(Debug, Clone)]
pub struct RegisteredCatalog {
    /// Name used as the first part of three-part names.
    pub name: String,
    /// The live catalog.
    pub lake: Arc<LakeCatalog>,
}

/// Every configured catalog, by name, plus the gateway's own (such as `system`).
#[derive(Debug, Default)]
pub struct CatalogRegistry {
    catalogs: BTreeMap<String, RegisteredCatalog>,
    /// Federated SQL databases.
    postgres: BTreeMap<String, Arc<PostgresCatalog>>,
    /// Directories of data files.
    files: BTreeMap<String, Arc<FilesCatalog>>,
    internal: BTreeMap<String, Arc<dyn CatalogProvider>>,
}

impl CatalogRegistry {
    /// Opens every configured catalog.
    pub async fn open(configs: &[CatalogConfig]) -> Result<Self> {
        let mut catalogs = BTreeMap::new();
        let mut postgres = BTreeMap::new();
        let mut files = BTreeMap::new();
        let mut names = std::collections::BTreeSet::new();
        for config in configs {
            if config.name.is_empty() || config.name.contains('.') {
                return Err(CatalogError::Config {
                    catalog: config.name.clone(),
                    message: "a catalog name must be non-empty and contain no '.'".into(),
                });
            }
            if !names.insert(config.name.clone()) {
                return Err(CatalogError::Config {
                    catalog: config.name.clone(),
                    message: "defined twice".into(),
                });
            }
            match config.kind {
                CatalogType::IcebergSql | CatalogType::IcebergRest => {
                    let lake = match config.kind {
                        CatalogType::IcebergRest => LakeCatalog::open_rest(config).await?,
                        _ => LakeCatalog::open_sql(config).await?,
                    };
                    let entry = RegisteredCatalog {
                        name: config.name.clone(),
                        lake: Arc::new(lake),
                    };
                    catalogs.insert(config.name.clone(), entry);
                }
                CatalogType::Postgres => {
                    let database = PostgresCatalog::open(config).await?;
                    postgres.insert(config.name.clone(), Arc::new(database));
                }
                CatalogType::Files => {
                    let directory = FilesCatalog::open(config).await?;
                    files.insert(config.name.clone(), Arc::new(directory));
                }
            }
        }
        Ok(Self {
            catalogs,
            postgres,
            files,
            internal: BTreeMap::new(),
        })
    }

    /// Adds one of the gateway's own catalogs (e.g. `system`); its tables are secured
    /// like any other.
    pub fn add_internal(
        &mut self,
        name: impl Into<String>,
        provider: Arc<dyn CatalogProvider>,
    ) -> Result<()> {
        let name = name.into();
        if self.catalogs.contains_key(&name)
            || self.postgres.contains_key(&name)
            || self.files.contains_key(&name)
        {
            return Err(CatalogError::Config {
                catalog: name,
                message: "this name is reserved for the gateway's own catalog".into(),
            });
        }
        self.internal.insert(name, provider);
        Ok(())
    }

    /// An Iceberg catalog by name.
    pub fn get(&self, name: &str) -> Option<&RegisteredCatalog> {
        self.catalogs.get(name)
    }

    /// All catalogs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredCatalog> {
        self.catalogs.values()
    }

    /// The providers to register in a DataFusion session.
    pub fn providers(&self) -> Vec<(String, Arc<dyn CatalogProvider>)> {
        self.catalogs
            .values()
            .map(|c| (c.name.clone(), c.lake.clone() as Arc<dyn CatalogProvider>))
            .chain(self.internal.iter().map(|(n, p)| (n.clone(), p.clone())))
            .chain(
                self.postgres
                    .iter()
                    .map(|(n, p)| (n.clone(), p.clone() as Arc<dyn CatalogProvider>)),
            )
            .chain(
                self.files
                    .iter()
                    .map(|(n, f)| (n.clone(), f.clone() as Arc<dyn CatalogProvider>)),
            )
            .collect()
    }

    /// The object stores files catalogs read through, by URL: registered in each
    /// query's runtime, wrapped to count that query's reads.
    pub fn object_stores(&self) -> Vec<(url::Url, Arc<dyn object_store::ObjectStore>)> {
        self.files.values().map(|f| f.object_store()).collect()
    }

    /// Refreshes every catalog's listing of schemas and tables (used by catalog
    /// introspection, which DataFusion reads synchronously).
    pub async fn refresh_listings(&self) -> Result<()> {
        for catalog in self.catalogs.values() {
            catalog.lake.refresh_listing().await?;
        }
        for database in self.postgres.values() {
            database.refresh_listing().await?;
        }
        for directory in self.files.values() {
            directory.refresh_listing().await?;
        }
        Ok(())
    }
}

//! The registry of named catalogs built from configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::catalog::CatalogProvider;

use crate::iceberg::LakeCatalog;
use crate::listed::ListedCatalog;
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
    /// Catalogs over live sources: PostgreSQL databases, directories of data files and
    /// of Delta tables.
    listed: BTreeMap<String, Arc<ListedCatalog>>,
    /// The type of every configured catalog.
    kinds: BTreeMap<String, CatalogType>,
    /// The object stores files and Delta catalogs read through, by URL.
    stores: Vec<(url::Url, Arc<dyn object_store::ObjectStore>)>,
    internal: BTreeMap<String, Arc<dyn CatalogProvider>>,
    /// How long results over a live catalog's tables may be cached, for the catalogs
    /// whose configuration opts in.
    result_ttls: BTreeMap<String, std::time::Duration>,
}

impl CatalogRegistry {
    /// Opens every configured catalog.
    pub async fn open(configs: &[CatalogConfig]) -> Result<Self> {
        let mut catalogs = BTreeMap::new();
        let mut listed = BTreeMap::new();
        let mut stores = Vec::new();
        let mut kinds = BTreeMap::new();
        let mut names = std::collections::BTreeSet::new();
        let mut result_ttls = BTreeMap::new();
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
            kinds.insert(config.name.clone(), config.kind);
            if let Some(seconds) = config.results_cache_seconds {
                if matches!(
                    config.kind,
                    CatalogType::IcebergSql | CatalogType::IcebergRest | CatalogType::Delta
                ) {
                    return Err(CatalogError::Config {
                        catalog: config.name.clone(),
                        message: "results_cache_seconds is for postgres and files catalogs; \
                                  results over Iceberg and Delta tables are cached by their \
                                  snapshot"
                            .into(),
                    });
                }
                result_ttls.insert(config.name.clone(), std::time::Duration::from_secs(seconds));
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
                    let database = crate::postgres::open(config).await?;
                    listed.insert(config.name.clone(), Arc::new(database));
                }
                CatalogType::Files | CatalogType::Delta => {
                    let (directory, store) = match config.kind {
                        CatalogType::Files => crate::files::open(config).await?,
                        _ => crate::delta::open(config).await?,
                    };
                    listed.insert(config.name.clone(), Arc::new(directory));
                    stores.push(store);
                }
            }
        }
        Ok(Self {
            catalogs,
            listed,
            kinds,
            stores,
            internal: BTreeMap::new(),
            result_ttls,
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
        if self.catalogs.contains_key(&name) || self.listed.contains_key(&name) {
            return Err(CatalogError::Config {
                catalog: name,
                message: "this name is reserved for the gateway's own catalog".into(),
            });
        }
        self.internal.insert(name, provider);
        Ok(())
    }

    /// How long results over catalog `name`'s tables may be cached, when its
    /// configuration opts in (`results_cache_seconds`).
    pub fn results_cache_ttl(&self, name: &str) -> Option<std::time::Duration> {
        self.result_ttls.get(name).copied()
    }

    /// An Iceberg catalog by name.
    pub fn get(&self, name: &str) -> Option<&RegisteredCatalog> {
        self.catalogs.get(name)
    }

    /// The type of the configured catalog `name`.
    pub fn kind(&self, name: &str) -> Option<CatalogType> {
        self.kinds.get(name).copied()
    }

    /// All Iceberg catalogs, sorted by name.
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
                self.listed
                    .iter()
                    .map(|(n, c)| (n.clone(), c.clone() as Arc<dyn CatalogProvider>)),
            )
            .collect()
    }

    /// The object stores files and Delta catalogs read through, by URL: registered in
    /// each query's runtime, wrapped to count that query's reads.
    pub fn object_stores(&self) -> Vec<(url::Url, Arc<dyn object_store::ObjectStore>)> {
        self.stores.clone()
    }

    /// Refreshes every catalog's listing of schemas and tables (used by catalog
    /// introspection, which DataFusion reads synchronously).
    pub async fn refresh_listings(&self) -> Result<()> {
        for catalog in self.catalogs.values() {
            catalog.lake.refresh_listing().await?;
        }
        for catalog in self.listed.values() {
            catalog.refresh_listing().await?;
        }
        Ok(())
    }
}

//! `CatalogProvider` and `SchemaProvider` over an Iceberg catalog, loading tables on demand.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DFResult};
use iceberg::table::Table;
use iceberg::{Catalog, CatalogBuilder, ErrorKind, NamespaceIdent, TableIdent};
use iceberg_catalog_rest::{
    REST_CATALOG_PROP_URI, REST_CATALOG_PROP_WAREHOUSE, RestCatalogBuilder,
};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle,
    SqlCatalogBuilder,
};

use super::MeteredIcebergTable;
use super::lake_storage::{LakeStorageFactory, check_s3_options};
use super::metadata_table;
use super::names::{TableRef, base_table, parse_table_ref};
use super::snapshot_files::LoadedTables;
use super::sql_locations::MetadataLocations;
use crate::{CatalogConfig, CatalogError, Result};

/// Schema name → table names, as last listed.
type Listing = BTreeMap<String, BTreeSet<String>>;

/// One Iceberg catalog, exposed as a DataFusion catalog.
#[derive(Debug)]
pub struct LakeCatalog {
    name: String,
    catalog: Arc<dyn Catalog>,
    warehouse: String,
    /// The SQL catalog's database (iceberg-sql only): commits iceberg-rust has no
    /// action for (compaction's replace) are made there, compare-and-set.
    sql_uri: Option<String>,
    listing: RwLock<Listing>,
    /// Tables loaded by earlier statements, reused while their metadata is current.
    loaded: Arc<LoadedTables>,
}

impl LakeCatalog {
    /// Opens (creating if needed) an Iceberg SQL catalog on SQLite, with its warehouse
    /// on local disk or on S3 (`s3://bucket/prefix`, with `options` for the store and
    /// `uri` naming the catalog database, which cannot live in a bucket).
    pub async fn open_sql(config: &CatalogConfig) -> Result<Self> {
        let error = |message: String| CatalogError::Config {
            catalog: config.name.clone(),
            message,
        };
        if config.warehouse.is_empty() {
            return Err(error("an iceberg-sql catalog needs `warehouse`".into()));
        }
        let (warehouse, uri) =
            if config.warehouse.starts_with("s3://") || config.warehouse.starts_with("s3a://") {
                check_s3_options(&config.options).map_err(error)?;
                let uri = config.uri.clone().ok_or_else(|| {
                    error(
                        "an iceberg-sql catalog whose warehouse is on S3 needs `uri`: the SQL \
                     catalog's database, e.g. sqlite:./data/s3lake.db?mode=rwc"
                            .into(),
                    )
                })?;
                (config.warehouse.trim_end_matches('/').to_string(), uri)
            } else {
                if !config.options.is_empty() {
                    return Err(error(
                        "`options` (S3 settings) apply to s3:// warehouses only".into(),
                    ));
                }
                let warehouse_dir = Path::new(&config.warehouse);
                std::fs::create_dir_all(warehouse_dir).map_err(CatalogError::io(format!(
                    "creating warehouse directory {}",
                    warehouse_dir.display()
                )))?;
                let warehouse_dir = warehouse_dir
                    .canonicalize()
                    .map_err(CatalogError::io("resolving warehouse directory"))?;
                // A file-backed SQLite database: `sqlite::memory:` would give every pooled
                // connection its own empty database.
                let uri = config.uri.clone().unwrap_or_else(|| {
                    format!(
                        "sqlite:{}?mode=rwc",
                        warehouse_dir.join("catalog.db").display()
                    )
                });
                (format!("file://{}", warehouse_dir.display()), uri)
            };
        let props = HashMap::from([
            (SQL_CATALOG_PROP_URI.to_string(), uri.clone()),
            (SQL_CATALOG_PROP_WAREHOUSE.to_string(), warehouse.clone()),
            (
                SQL_CATALOG_PROP_BIND_STYLE.to_string(),
                SqlBindStyle::DollarNumeric.to_string(),
            ),
        ]);
        let catalog = SqlCatalogBuilder::default()
            .with_storage_factory(Arc::new(LakeStorageFactory::new(config.options.clone())))
            .load(config.name.clone(), props)
            .await
            .map_err(CatalogError::iceberg(format!(
                "opening Iceberg SQL catalog {:?}",
                config.name
            )))?;
        let lake = Self {
            name: config.name.clone(),
            catalog: Arc::new(catalog),
            warehouse,
            loaded: Arc::new(LoadedTables::with_locations(MetadataLocations::new(
                &uri,
                &config.name,
            ))),
            sql_uri: Some(uri),
            listing: RwLock::new(Listing::new()),
        };
        lake.refresh_listing().await?;
        Ok(lake)
    }

    /// The SQL catalog's database URI, for an iceberg-sql catalog.
    pub(crate) fn sql_uri(&self) -> Option<&str> {
        self.sql_uri.as_deref()
    }

    /// Connects to an Iceberg REST catalog (Polaris, Lakekeeper, Nessie, Gravitino,
    /// Unity, …) at `uri`. `warehouse` is passed as the REST `warehouse` property, and
    /// `options` as further catalog properties (credentials such as `credential` or
    /// `token` are best set through `password_env`, which sets `token`). Table files are
    /// read from the locations the catalog returns: local or shared file systems, or S3
    /// with the settings the catalog hands out.
    pub async fn open_rest(config: &CatalogConfig) -> Result<Self> {
        let error = |message: String| CatalogError::Config {
            catalog: config.name.clone(),
            message,
        };
        let uri = config
            .uri
            .clone()
            .ok_or_else(|| error("an iceberg-rest catalog needs `uri`".into()))?;
        let mut props: HashMap<String, String> = config
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        props.insert(REST_CATALOG_PROP_URI.to_string(), uri);
        if !config.warehouse.is_empty() {
            props.insert(
                REST_CATALOG_PROP_WAREHOUSE.to_string(),
                config.warehouse.clone(),
            );
        }
        if let Some(variable) = &config.password_env {
            let token = std::env::var(variable).map_err(|_| {
                error(format!(
                    "environment variable {variable} (password_env) is not set"
                ))
            })?;
            props.insert("token".to_string(), token);
        }
        // S3 settings come from the catalog (its config and table properties).
        let catalog = RestCatalogBuilder::default()
            .with_storage_factory(Arc::new(LakeStorageFactory::default()))
            .load(config.name.clone(), props)
            .await
            .map_err(CatalogError::iceberg(format!(
                "connecting to Iceberg REST catalog {:?}",
                config.name
            )))?;
        let lake = Self {
            name: config.name.clone(),
            catalog: Arc::new(catalog),
            warehouse: config.warehouse.clone(),
            sql_uri: None,
            listing: RwLock::new(Listing::new()),
            loaded: Arc::default(),
        };
        lake.refresh_listing().await?;
        Ok(lake)
    }

    /// The catalog's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying Iceberg catalog, for writers and seeding.
    pub fn iceberg(&self) -> Arc<dyn Catalog> {
        self.catalog.clone()
    }

    /// The warehouse location (`file://…`).
    pub fn warehouse(&self) -> &str {
        &self.warehouse
    }

    /// Lists namespaces and tables again. DataFusion reads names synchronously
    /// (information_schema, SHOW TABLES), so they come from this listing; resolving a
    /// table for a query never depends on it.
    pub async fn refresh_listing(&self) -> Result<()> {
        let mut listing = Listing::new();
        let namespaces =
            self.catalog
                .list_namespaces(None)
                .await
                .map_err(CatalogError::iceberg(format!(
                    "listing namespaces of {}",
                    self.name
                )))?;
        for namespace in namespaces {
            let tables =
                self.catalog
                    .list_tables(&namespace)
                    .await
                    .map_err(CatalogError::iceberg(format!(
                        "listing tables of {}.{}",
                        self.name,
                        namespace.join(".")
                    )))?;
            listing.insert(
                namespace.join("."),
                tables.iter().map(|t| t.name().to_string()).collect(),
            );
        }
        *self.listing.write().unwrap_or_else(|e| e.into_inner()) = listing;
        Ok(())
    }

    /// Whether `schema.table`'s current metadata file is still `location`, read from
    /// the catalog's database in one query without loading the table. `None` when
    /// the catalog cannot answer that way (REST catalogs) or the read failed.
    pub async fn metadata_is_current(
        &self,
        schema: &str,
        table: &str,
        location: &str,
    ) -> Option<bool> {
        let ident = TableIdent::new(NamespaceIdent::new(schema.to_string()), table.to_string());
        self.loaded.location_is(&ident, location).await
    }

    /// Whether [`LakeCatalog::metadata_is_current`] can answer for this catalog.
    pub fn reads_metadata_locations(&self) -> bool {
        self.loaded.reads_locations()
    }

    /// Loads a table's current metadata, or `None` if it does not exist.
    pub async fn load_table(&self, schema: &str, table: &str) -> Result<Option<Table>> {
        let ident = TableIdent::new(NamespaceIdent::new(schema.to_string()), table.to_string());
        match self.catalog.load_table(&ident).await {
            Ok(table) => Ok(Some(table)),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::TableNotFound | ErrorKind::NamespaceNotFound
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(CatalogError::Iceberg {
                context: format!("loading table {}.{schema}.{table}", self.name),
                source: Box::new(e),
            }),
        }
    }

    fn listed_schemas(&self) -> Vec<String> {
        let listing = self.listing.read().unwrap_or_else(|e| e.into_inner());
        listing.keys().cloned().collect()
    }

    fn listed_tables(&self, schema: &str) -> Vec<String> {
        let listing = self.listing.read().unwrap_or_else(|e| e.into_inner());
        listing
            .get(schema)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl CatalogProvider for LakeCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        self.listed_schemas()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        // Any name resolves: whether the table exists is asked of the catalog when the
        // statement is planned, so a namespace created elsewhere needs no refresh.
        Some(Arc::new(LakeSchema {
            catalog: self.catalog.clone(),
            catalog_name: self.name.clone(),
            schema: name.to_string(),
            tables: self.listed_tables(name),
            loaded: self.loaded.clone(),
        }))
    }
}

/// One Iceberg namespace, exposed as a DataFusion schema.
#[derive(Debug)]
pub struct LakeSchema {
    catalog: Arc<dyn Catalog>,
    catalog_name: String,
    schema: String,
    /// Names as last listed, for synchronous introspection only.
    tables: Vec<String>,
    loaded: Arc<LoadedTables>,
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.tables.clone()
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let reference = parse_table_ref(name).map_err(|e| DataFusionError::Plan(e.to_string()))?;
        let base = match &reference {
            TableRef::Current(base) | TableRef::Snapshot(base, _) | TableRef::Metadata(base, _) => {
                *base
            }
        };
        let ident = TableIdent::new(NamespaceIdent::new(self.schema.clone()), base.to_string());
        let kept = self.loaded.kept_if_current(&ident).await;
        let loaded = match kept {
            Some(table) => Ok(table),
            None => self
                .catalog
                .load_table(&ident)
                .await
                .map(|table| self.loaded.current(table)),
        };
        let table = match loaded {
            Ok(table) => table,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::TableNotFound | ErrorKind::NamespaceNotFound
                ) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(DataFusionError::External(Box::new(CatalogError::Iceberg {
                    context: format!("loading table {}.{}.{name}", self.catalog_name, self.schema),
                    source: Box::new(e),
                })));
            }
        };
        Ok(Some(match reference {
            // Pinned to the snapshot current now: the whole statement reads this one.
            TableRef::Current(_) => {
                Arc::new(MeteredIcebergTable::try_new(table, self.catalog.clone()).await?)
            }
            TableRef::Snapshot(base, id) => {
                if table.metadata().snapshot_by_id(id).is_none() {
                    return Err(DataFusionError::Plan(format!(
                        "table {}.{}.{base} has no snapshot {id} (see \"{base}$snapshots\")",
                        self.catalog_name, self.schema
                    )));
                }
                Arc::new(MeteredIcebergTable::at_snapshot(table, id).await?)
            }
            TableRef::Metadata(_, kind) => metadata_table(&table, kind).await?,
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        let (base, _) = base_table(name);
        self.tables.iter().any(|t| t == base)
    }
}

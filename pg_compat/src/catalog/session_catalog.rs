//! A session's `pg_catalog` schema, added beside the schemas of each of its catalogs;
//! its tables are built when a statement resolves them.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use datafusion::catalog::{CatalogProvider, MemTable, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};

use super::column_tags::ColumnTags;
use super::oids::{INFORMATION_SCHEMA_OID, PG_CATALOG, PG_CATALOG_OID, stable_oid};
use super::tables::{catalog_table_names, is_catalog_table, namespace_schema};
use super::{information_schema, pg_class, pg_type, tables};

/// What a session's pg_catalog needs beyond its own catalog: who is connected, and
/// every catalog the session sees (pg_database lists those the principal reads).
#[derive(Debug)]
pub struct PgCatalogContext {
    /// The connected user.
    pub user: String,
    /// The session's catalogs, principal-filtered.
    pub catalogs: Vec<(String, Arc<dyn CatalogProvider>)>,
    /// The session's parameters (name, value, description), published before each
    /// statement is planned, for pg_settings.
    pub settings: std::sync::Mutex<Vec<(String, String, String)>>,
    /// The classification tags of a column, shown as its description (pg_description).
    pub column_tags: Option<ColumnTags>,
}

impl PgCatalogContext {
    /// Publishes the session's current parameters.
    pub fn publish_settings(&self, settings: Vec<(String, String, String)>) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    fn settings(&self) -> Vec<(String, String, String)> {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Catalogs where the principal reads at least one table.
    fn readable_catalogs(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .catalogs
            .iter()
            .filter(|(_, provider)| {
                provider.schema_names().iter().any(|schema| {
                    schema != PG_CATALOG
                        && schema != "information_schema"
                        && provider
                            .schema(schema)
                            .is_some_and(|s| !s.table_names().is_empty())
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }
}

/// A catalog with a `pg_catalog` schema beside its own.
#[derive(Debug)]
pub struct WithPgCatalog {
    name: String,
    inner: Arc<dyn CatalogProvider>,
    context: Arc<PgCatalogContext>,
}

impl WithPgCatalog {
    pub fn new(
        name: &str,
        inner: Arc<dyn CatalogProvider>,
        context: Arc<PgCatalogContext>,
    ) -> Self {
        Self {
            name: name.to_string(),
            inner,
            context,
        }
    }
}

impl CatalogProvider for WithPgCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .schema_names()
            .into_iter()
            .filter(|n| n != PG_CATALOG)
            .collect();
        names.push(PG_CATALOG.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == PG_CATALOG {
            return Some(Arc::new(PgCatalogSchema {
                catalog: self.name.clone(),
                inner: self.inner.clone(),
                context: self.context.clone(),
            }));
        }
        self.inner.schema(name)
    }
}

/// The pg_catalog of one catalog: its tables are built when a statement resolves them.
#[derive(Debug)]
struct PgCatalogSchema {
    catalog: String,
    /// The principal-filtered catalog it describes.
    inner: Arc<dyn CatalogProvider>,
    context: Arc<PgCatalogContext>,
}

#[async_trait]
impl SchemaProvider for PgCatalogSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        catalog_table_names().map(str::to_string).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let batch = match name {
            "pg_type" => pg_type::batch()?,
            "pg_namespace" => self.namespaces()?,
            "pg_class" => pg_class::batch(&self.catalog, &self.inner).await?,
            "pg_attribute" => tables::attributes(&self.catalog, &self.inner).await?,
            "pg_tables" => tables::pg_tables(&self.inner).await?,
            "pg_am" => tables::access_methods()?,
            "pg_database" => tables::databases(&self.context.readable_catalogs())?,
            "pg_roles" => tables::roles(&self.context.user)?,
            "pg_user" => tables::users(&self.context.user)?,
            "pg_proc" => tables::procedures(&pg_type::io_functions())?,
            "pg_settings" => tables::settings(&self.context.settings())?,
            "pg_stat_user_tables" => tables::table_statistics(&self.catalog, &self.inner).await?,
            "pg_description" => {
                tables::descriptions(
                    &self.catalog,
                    &self.inner,
                    self.context.column_tags.as_ref(),
                )
                .await?
            }
            hidden if information_schema::view_of(hidden).is_some() => {
                let view = information_schema::view_of(hidden).unwrap_or_default();
                information_schema::build(view, &self.catalog, &self.inner).await?
            }
            other => match tables::empty(other) {
                Some(batch) => batch?,
                None => return Ok(None),
            },
        };
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        Ok(Some(Arc::new(table)))
    }

    fn table_exist(&self, name: &str) -> bool {
        is_catalog_table(name) || information_schema::view_of(name).is_some()
    }
}

impl PgCatalogSchema {
    /// pg_catalog, information_schema and every schema of this catalog the principal
    /// can see.
    fn namespaces(&self) -> Result<RecordBatch> {
        let mut rows: Vec<(u32, String)> = vec![
            (PG_CATALOG_OID, PG_CATALOG.to_string()),
            (INFORMATION_SCHEMA_OID, "information_schema".to_string()),
        ];
        let mut schemas = self.inner.schema_names();
        schemas.sort();
        for schema in schemas {
            if schema == PG_CATALOG || schema == "information_schema" {
                continue;
            }
            rows.push((stable_oid(&format!("{}.{schema}", self.catalog)), schema));
        }
        let schema = namespace_schema();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|_| 10))),
            Arc::new(StringArray::from(vec![None::<&str>; rows.len()])),
        ];
        RecordBatch::try_new(schema, columns).map_err(DataFusionError::from)
    }
}

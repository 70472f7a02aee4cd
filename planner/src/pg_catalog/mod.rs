//! `pg_catalog`: the system catalog PostgreSQL clients read on connect and while
//! browsing, built from the live catalog as the session's principal sees it.
//!
//! Every catalog gets a `pg_catalog` schema (like DataFusion's `information_schema`);
//! unqualified names of its tables resolve there first, as in PostgreSQL, where
//! pg_catalog is implicitly at the front of every search_path.

mod catalog_functions;
mod empty_joins;
mod functions;
mod information_schema;
mod keywords;
mod pg_class;
mod pg_type;
mod rewrite;
mod rows;
mod tables;
pub mod type_map;

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, MemTable, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, ObjectNamePart, visit_relations_mut};

pub(crate) use catalog_functions::split_name;
pub(crate) use functions::register_functions;
pub use pg_type::type_oid;
pub(crate) use rewrite::rewrite_postgres_syntax;

/// The schema name.
pub const PG_CATALOG: &str = "pg_catalog";
/// Field metadata naming the PostgreSQL type a column is sent as, where Arrow has no
/// type of its own (`oid`).
pub const PG_TYPE_METADATA: &str = "lakegate.pg_type";

/// pg_catalog's own OID, as in PostgreSQL.
pub(crate) const PG_CATALOG_OID: u32 = 11;
/// information_schema's OID (PostgreSQL assigns one at initdb; this is stable here).
pub(crate) const INFORMATION_SCHEMA_OID: u32 = 13_000;
/// First OID of user objects in PostgreSQL.
const FIRST_USER_OID: u32 = 16_384;

/// The owner of every catalog object: the bootstrap superuser.
pub(crate) const BOOTSTRAP_SUPERUSER: u32 = 10;

/// The tables of pg_catalog built from the live catalog or from constants; the empty
/// ones are in [`tables::EMPTY_TABLES`].
const BUILT_TABLES: &[&str] = &[
    "pg_am",
    "pg_settings",
    "pg_stat_user_tables",
    "pg_attribute",
    "pg_class",
    "pg_database",
    "pg_namespace",
    "pg_proc",
    "pg_roles",
    "pg_tables",
    "pg_type",
    "pg_user",
];

/// Whether `name` is a table of pg_catalog.
fn is_catalog_table(name: &str) -> bool {
    BUILT_TABLES.contains(&name) || tables::EMPTY_TABLES.contains(&name)
}

/// All tables of pg_catalog.
fn catalog_table_names() -> impl Iterator<Item = &'static str> {
    BUILT_TABLES
        .iter()
        .chain(tables::EMPTY_TABLES.iter())
        .copied()
}

/// What a session's pg_catalog needs beyond its own catalog: who is connected, and
/// every catalog the session sees (pg_database lists those the principal reads).
#[derive(Debug)]
pub(crate) struct PgCatalogContext {
    /// The connected user.
    pub(crate) user: String,
    /// The session's catalogs, principal-filtered.
    pub(crate) catalogs: Vec<(String, Arc<dyn CatalogProvider>)>,
    /// The session's parameters (name, value, description), published before each
    /// statement is planned, for pg_settings.
    pub(crate) settings: std::sync::Mutex<Vec<(String, String, String)>>,
}

impl PgCatalogContext {
    /// Publishes the session's current parameters.
    pub(crate) fn publish_settings(&self, settings: Vec<(String, String, String)>) {
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

/// An `oid` column: UInt32 values sent as PostgreSQL's `oid`.
pub(crate) fn oid_field(name: &str) -> Field {
    Field::new(name, DataType::UInt32, false).with_metadata(HashMap::from([(
        PG_TYPE_METADATA.to_string(),
        "oid".to_string(),
    )]))
}

/// A `regproc` column: UInt32 function OIDs, sent as PostgreSQL's `regproc`, whose text
/// form is the function's name.
pub(crate) fn regproc_field(name: &str) -> Field {
    Field::new(name, DataType::UInt32, false).with_metadata(HashMap::from([(
        PG_TYPE_METADATA.to_string(),
        "regproc".to_string(),
    )]))
}

/// The OID of a function of pg_proc (`-`, no function, is 0).
pub(crate) fn regproc_oid(name: &str) -> u32 {
    if name == "-" {
        0
    } else {
        stable_oid(&format!("proc:{name}"))
    }
}

/// The name of a type by OID, as `regtype` prints it (`integer`, `numeric`).
pub fn regtype_name(oid: u32) -> String {
    catalog_functions::format_type(oid, None)
}

/// The name of a function of pg_proc by OID, as `regproc` prints it (`-` for 0).
pub fn regproc_name(oid: u32) -> Option<String> {
    static NAMES: std::sync::OnceLock<HashMap<u32, String>> = std::sync::OnceLock::new();
    if oid == 0 {
        return Some("-".into());
    }
    NAMES
        .get_or_init(|| {
            let mut names: HashMap<u32, String> = pg_type::io_functions()
                .into_iter()
                .map(|f| (regproc_oid(&f.name), f.name))
                .collect();
            names.insert(regproc_oid("array_typanalyze"), "array_typanalyze".into());
            names
        })
        .get(&oid)
        .cloned()
}

/// A stable OID for a user object, from its qualified name: the same name has the same
/// OID in every session and after restarts. FNV-1a, folded into the user OID range.
pub(crate) fn stable_oid(qualified_name: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in qualified_name.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    FIRST_USER_OID + hash % (i32::MAX as u32 - FIRST_USER_OID)
}

/// A catalog with a `pg_catalog` schema beside its own.
#[derive(Debug)]
pub(crate) struct WithPgCatalog {
    name: String,
    inner: Arc<dyn CatalogProvider>,
    context: Arc<PgCatalogContext>,
}

impl WithPgCatalog {
    pub(crate) fn new(
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

fn namespace_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        oid_field("oid"),
        Field::new("nspname", DataType::Utf8, false),
        oid_field("nspowner"),
        Field::new("nspacl", DataType::Utf8, true),
    ]))
}

/// The schema of a pg_catalog table.
fn catalog_table_schema(name: &str) -> Option<SchemaRef> {
    match name {
        "pg_type" => Some(pg_type::schema()),
        "pg_namespace" => Some(namespace_schema()),
        "pg_class" => Some(pg_class::table_schema()),
        other => tables::columns(other).map(rows::schema),
    }
}

/// Qualifies unqualified references to pg_catalog tables (`FROM pg_type`) as
/// `pg_catalog.pg_type`, unless the current schema has a table of that name.
pub(crate) fn qualify_catalog_tables(
    statement: &mut DFStatement,
    current_schema_has: impl Fn(&str) -> bool,
) {
    let DFStatement::Statement(statement) = statement else {
        return;
    };
    let _ = visit_relations_mut(statement.as_mut(), |name: &mut ObjectName| {
        // `[catalog.]information_schema.columns` and the other views served the
        // PostgreSQL way read the hidden pg_catalog table of that name.
        let parts = name.0.len();
        if parts >= 2 {
            let schema = name.0[parts - 2]
                .as_ident()
                .map(|i| i.value.to_ascii_lowercase());
            let view = name.0[parts - 1]
                .as_ident()
                .map(|i| i.value.to_ascii_lowercase());
            if let (Some(schema), Some(view)) = (schema, view)
                && schema == "information_schema"
                && information_schema::VIEWS.contains(&view.as_str())
            {
                name.0[parts - 2] = ObjectNamePart::Identifier(Ident::new(PG_CATALOG));
                name.0[parts - 1] = ObjectNamePart::Identifier(Ident::with_quote(
                    '"',
                    information_schema::hidden_name(&view),
                ));
            }
        }
        if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() {
            let table = if ident.quote_style.is_some() {
                ident.value.clone()
            } else {
                ident.value.to_ascii_lowercase()
            };
            if is_catalog_table(&table) && !current_schema_has(&table) {
                name.0
                    .insert(0, ObjectNamePart::Identifier(Ident::new(PG_CATALOG)));
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_oids_are_user_oids_and_repeat() {
        let a = stable_oid("lake.tpch");
        assert!(a >= FIRST_USER_OID);
        assert_eq!(a, stable_oid("lake.tpch"));
        assert_ne!(a, stable_oid("lake.other"));
    }

    #[test]
    fn unqualified_catalog_tables_move_to_pg_catalog() {
        let mut statements = crate::sql::parse::split(
            "SELECT t.oid FROM pg_type t JOIN pg_namespace ns ON t.typnamespace = ns.oid \
             JOIN orders o ON true",
        )
        .expect("parse");
        qualify_catalog_tables(&mut statements[0], |_| false);
        let sql = statements[0].to_string();
        assert!(sql.contains("FROM pg_catalog.pg_type t"), "{sql}");
        assert!(sql.contains("JOIN pg_catalog.pg_namespace ns"), "{sql}");
        assert!(sql.contains("JOIN orders o"), "{sql}");
    }
}

//! Configuration of one named catalog, as written under `[[catalogs]]`.

use serde::{Deserialize, Serialize};

/// The kinds of catalog the gateway can open.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CatalogType {
    /// Iceberg tables whose catalog is a SQL database (SQLite by default).
    IcebergSql,
}

impl CatalogType {
    /// Every type, with a one-line description, for `gateway catalogs`.
    pub const ALL: &[(CatalogType, &str)] = &[(
        CatalogType::IcebergSql,
        "Apache Iceberg tables, catalog in SQLite (embedded default), data on local disk",
    )];

    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            CatalogType::IcebergSql => "iceberg-sql",
        }
    }
}

/// One `[[catalogs]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// The catalog's name: the first part of `catalog.schema.table`.
    pub name: String,
    /// Which kind of catalog this is.
    #[serde(rename = "type")]
    pub kind: CatalogType,
    /// Warehouse root: where table data and metadata files are written.
    pub warehouse: String,
    /// Database URI of the SQL catalog, e.g. `sqlite:./data/catalog.db`.
    /// Defaults to `sqlite:<warehouse>/catalog.db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

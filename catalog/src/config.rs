//! Configuration of one named catalog, as written under `[[catalogs]]`.

use serde::{Deserialize, Serialize};

/// The kinds of catalog the gateway can open.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CatalogType {
    /// Iceberg tables whose catalog is a SQL database (SQLite by default).
    #[default]
    IcebergSql,
    /// Iceberg tables of an Iceberg REST catalog.
    IcebergRest,
    /// A live PostgreSQL database; queries are pushed down to it.
    Postgres,
    /// Directories of Parquet, CSV or JSON files.
    Files,
    /// Directories of Delta Lake tables.
    Delta,
}

impl CatalogType {
    /// Every type, with a one-line description, for `gateway catalogs`.
    pub const ALL: &[(CatalogType, &str)] = &[
        (
            CatalogType::IcebergSql,
            "Apache Iceberg tables, catalog in SQLite (embedded default), data on local disk \
             or S3",
        ),
        (
            CatalogType::IcebergRest,
            "Apache Iceberg tables of an Iceberg REST catalog (Polaris, Lakekeeper, Nessie, \
             Gravitino, Unity), data on local or shared file systems or S3",
        ),
        (
            CatalogType::Postgres,
            "a live PostgreSQL database; filters, projections, limits, aggregates, sorts and \
             joins pushed down as SQL (datafusion-federation)",
        ),
        (
            CatalogType::Files,
            "directories of Parquet, CSV or JSON files on local disk or S3: schema = \
             directory, table = sub-directory or file",
        ),
        (
            CatalogType::Delta,
            "Delta Lake tables (deltalake-core) on local disk or S3: schema = directory, \
             table = sub-directory with a _delta_log; time travel, INSERT",
        ),
    ];

    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            CatalogType::IcebergSql => "iceberg-sql",
            CatalogType::IcebergRest => "iceberg-rest",
            CatalogType::Postgres => "postgres",
            CatalogType::Files => "files",
            CatalogType::Delta => "delta",
        }
    }
}

/// One `[[catalogs]]` entry.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// The catalog's name: the first part of `catalog.schema.table`.
    pub name: String,
    /// Which kind of catalog this is.
    #[serde(rename = "type")]
    pub kind: CatalogType,
    /// Warehouse root (iceberg-sql): where table data and metadata files are written, a
    /// local directory or `s3://bucket/prefix`.
    #[serde(default)]
    pub warehouse: String,
    /// iceberg-sql: database URI of the SQL catalog, e.g. `sqlite:./data/catalog.db`
    /// (default `sqlite:<warehouse>/catalog.db`). iceberg-rest: the catalog's base URL.
    /// postgres: the connection string, libpq `key=value` or `postgres://…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// postgres: the environment variable holding the password (kept out of files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// postgres: push work down to the database (default true); false reads the
    /// projected columns of every row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushdown: Option<bool>,
    /// files, delta: the directory holding one directory per schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// files: `parquet`, `csv` (with a header row) or `json` (one object per line);
    /// unset: each table's by its files' extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// files, delta and iceberg-sql on S3: object_store's S3 options (`aws_endpoint`, `aws_region`,
    /// `aws_allow_http`, …), on top of the `AWS_*` environment variables. iceberg-rest:
    /// further catalog properties (`prefix`, `oauth2-server-uri`, `scope`, …).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub options: std::collections::BTreeMap<String, String>,
    /// postgres, files: keep query results over this catalog's tables in the results
    /// cache for this many seconds. These sources have no snapshot to tell when their
    /// data changed, so their results are not cached unless this is set; a result
    /// served from the cache may then be this old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_cache_seconds: Option<u64>,
}

/// The connection string may hold a password: it is never printed.
impl std::fmt::Debug for CatalogConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("warehouse", &self.warehouse)
            .field("uri", &self.uri.as_ref().map(|_| "<redacted>"))
            .field("password_env", &self.password_env)
            .field("pushdown", &self.pushdown)
            .field("location", &self.location)
            .field("format", &self.format)
            .field("options", &redacted_options(&self.options))
            .field("results_cache_seconds", &self.results_cache_seconds)
            .finish()
    }
}

/// Options as they may be printed: the value of every option whose name says it may be
/// a secret (`key`, `secret`, `token`, `password`, `credential`) is redacted.
pub(crate) fn redacted_options(
    options: &std::collections::BTreeMap<String, String>,
) -> Vec<(&str, &str)> {
    options
        .iter()
        .map(|(k, v)| {
            let secret = ["secret", "key", "token", "password", "credential"]
                .iter()
                .any(|s| k.to_ascii_lowercase().contains(s));
            (k.as_str(), if secret { "<redacted>" } else { v.as_str() })
        })
        .collect()
}

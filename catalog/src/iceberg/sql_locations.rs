//! The current metadata file of an iceberg-sql catalog's table, read straight from the
//! catalog's database in one query.
//!
//! iceberg-rust's `load_table` asks the database twice (whether the table exists, then
//! its metadata file), pings the connection first, and reads and parses the metadata
//! file every time. Every statement resolves its tables afresh, so that cost was paid
//! per table per statement, also when nothing had changed. With the location in hand,
//! a table kept from an earlier statement is reused when its metadata file is still
//! the current one, and loaded in full only when it is not.

use std::str::FromStr;
use std::time::Duration;

use iceberg::TableIdent;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

/// Connections reading locations; each query takes a few microseconds of SQLite.
const CONNECTIONS: u32 = 4;

/// Reads table locations from one iceberg-sql catalog's database.
#[derive(Debug)]
pub(crate) struct MetadataLocations {
    pool: SqlitePool,
    catalog: String,
}

impl MetadataLocations {
    /// A reader of catalog `catalog`'s tables in the database at `uri` (connected on
    /// first use, read-only). `None` when the URI is not a SQLite one it can open.
    pub(crate) fn new(uri: &str, catalog: &str) -> Option<Self> {
        let options = SqliteConnectOptions::from_str(uri)
            .ok()?
            .read_only(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(CONNECTIONS)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Some(Self {
            pool,
            catalog: catalog.to_string(),
        })
    }

    /// The metadata file the catalog lists for `ident` now, `None` when it lists no
    /// such table.
    pub(crate) async fn current(&self, ident: &TableIdent) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT metadata_location FROM iceberg_tables \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? \
             AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)",
        )
        .bind(&self.catalog)
        .bind(ident.namespace().join("."))
        .bind(ident.name())
        .fetch_optional(&self.pool)
        .await
    }
}

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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use iceberg::TableIdent;
use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tokio::sync::Mutex;

/// Connections reading locations, taken in turn; each query takes a few microseconds
/// of SQLite. Not a sqlx pool: a pool pings every connection it takes back, which
/// cost as much as the query.
const CONNECTIONS: usize = 4;

/// Reads table locations from one iceberg-sql catalog's database.
#[derive(Debug)]
pub(crate) struct MetadataLocations {
    options: SqliteConnectOptions,
    /// Opened on first use; dropped after a failed query and opened again.
    connections: Vec<Mutex<Option<SqliteConnection>>>,
    next: AtomicUsize,
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
        Some(Self {
            options,
            connections: (0..CONNECTIONS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            catalog: catalog.to_string(),
        })
    }

    /// The metadata file the catalog lists for `ident` now, `None` when it lists no
    /// such table.
    pub(crate) async fn current(&self, ident: &TableIdent) -> Result<Option<String>, sqlx::Error> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        let mut slot = self.connections[turn].lock().await;
        let connection = match slot.as_mut() {
            Some(connection) => connection,
            None => slot.insert(self.options.connect().await?),
        };
        let found = sqlx::query_scalar(
            "SELECT metadata_location FROM iceberg_tables \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? \
             AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)",
        )
        .bind(&self.catalog)
        .bind(ident.namespace().join("."))
        .bind(ident.name())
        .fetch_optional(&mut *connection)
        .await;
        if found.is_err() {
            // Opened afresh for the next query.
            *slot = None;
        }
        found
    }
}

//! The current metadata file of an iceberg-sql catalog's table, read straight from the
//! catalog's database in one query.
//!
//! iceberg-rust's `load_table` asks the database twice (whether the table exists, then
//! its metadata file), pings the connection first, and reads and parses the metadata
//! file every time. Every statement resolves its tables afresh, so that cost was paid
//! per table per statement, also when nothing had changed. With the location in hand,
//! a table kept from an earlier statement is reused when its metadata file is still
//! the current one, and loaded in full only when it is not.
//!
//! Even that query is a round trip to SQLite's worker thread, about 0.2 ms per table
//! per statement. Every commit to the catalog writes its database file (or its
//! write-ahead log), so locations read while the files' size and modification time
//! stay as they were are still current: they are answered from memory, and the
//! database is asked again once a file changes (see [`FilesStamp`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

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
    /// The database's file, whose stamp says when read locations may be reused.
    file: Option<PathBuf>,
    /// Locations read while the files had one stamp.
    known: std::sync::Mutex<Known>,
    /// Queries made of the database.
    reads: AtomicUsize,
}

/// Locations read from the database while its files had `stamp`.
#[derive(Debug, Default)]
struct Known {
    stamp: Option<FilesStamp>,
    locations: HashMap<(String, String), Option<String>>,
}

/// Locations kept at most, per catalog (more are asked of the database every time).
const KNOWN_TABLES: usize = 4096;

/// A file's identity, size and modification time; the catalog's database file and
/// its write-ahead log make up a stamp. A commit writes one of them, which changes its
/// size or modification time, and a file replaced is a new inode.
///
/// File systems keep modification times at a coarse granularity (a clock tick, or a
/// second on some). A commit in the same tick as the one before would leave the time
/// unchanged, so a stamp is trusted only when it was taken [`SETTLED`] after its
/// files' last change: a commit after that gets a later time. Until then every
/// statement asks the database, as without the stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilesStamp {
    files: [Option<(u64, u64, u64, SystemTime)>; 2],
    settled: bool,
}

/// How long after its last change a file's modification time is trusted.
const SETTLED: Duration = Duration::from_secs(2);

impl FilesStamp {
    /// The stamp of `database` and its `-wal` file now; `None` when the database
    /// cannot be looked at (then locations are always read).
    fn of(database: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let now = SystemTime::now();
        let look = |path: &Path| -> std::io::Result<Option<(u64, u64, u64, SystemTime)>> {
            match std::fs::metadata(path) {
                Ok(m) => Ok(Some((m.dev(), m.ino(), m.len(), m.modified()?))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
        let main = look(database).ok()??;
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        let wal = look(Path::new(&wal)).ok()?;
        let settled = [Some(main), wal]
            .iter()
            .flatten()
            .all(|(_, _, _, modified)| {
                now.duration_since(*modified)
                    .is_ok_and(|age| age >= SETTLED)
            });
        Some(Self {
            files: [Some(main), wal],
            settled,
        })
    }

    /// Whether locations read under `self` still hold under `now`.
    fn still(&self, now: &Self) -> bool {
        self.settled && self.files == now.files
    }
}

impl MetadataLocations {
    /// A reader of catalog `catalog`'s tables in the database at `uri` (connected on
    /// first use, read-only). `None` when the URI is not a SQLite one it can open.
    pub(crate) fn new(uri: &str, catalog: &str) -> Option<Self> {
        let options = SqliteConnectOptions::from_str(uri)
            .ok()?
            .read_only(true)
            .busy_timeout(Duration::from_secs(10));
        let file = options.get_filename();
        let file = (file != Path::new(":memory:")).then(|| file.to_path_buf());
        Some(Self {
            options,
            connections: (0..CONNECTIONS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            catalog: catalog.to_string(),
            file,
            known: Default::default(),
            reads: AtomicUsize::new(0),
        })
    }

    /// The metadata file the catalog lists for `ident` now, `None` when it lists no
    /// such table.
    pub(crate) async fn current(&self, ident: &TableIdent) -> Result<Option<String>, sqlx::Error> {
        let key = (ident.namespace().join("."), ident.name().to_string());
        // Taken before the query: a commit after it changes the stamp.
        let stamp = self.file.as_deref().and_then(FilesStamp::of);
        if let Some(stamp) = &stamp {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            if known.stamp.as_ref().is_some_and(|kept| kept.still(stamp))
                && let Some(location) = known.locations.get(&key)
            {
                return Ok(location.clone());
            }
        }
        let found = self.read(&key).await?;
        if let Some(stamp) = stamp.filter(|s| s.settled) {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            if known.stamp.as_ref() != Some(&stamp) || known.locations.len() >= KNOWN_TABLES {
                *known = Known {
                    stamp: Some(stamp),
                    locations: HashMap::new(),
                };
            }
            known.locations.insert(key, found.clone());
        }
        Ok(found)
    }

    /// The metadata file the database lists for `(namespace, table)`.
    async fn read(
        &self,
        (namespace, table): &(String, String),
    ) -> Result<Option<String>, sqlx::Error> {
        self.reads.fetch_add(1, Ordering::Relaxed);
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
        .bind(namespace)
        .bind(table)
        .fetch_optional(&mut *connection)
        .await;
        if found.is_err() {
            // Opened afresh for the next query.
            *slot = None;
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    /// A writer of the catalog's database, kept open as a gateway's catalog keeps it:
    /// its commits go to the write-ahead log (sqlx's default journal mode).
    async fn writer(database: &Path) -> SqliteConnection {
        let uri = format!("sqlite:{}?mode=rwc", database.display());
        let mut connection = SqliteConnection::connect(&uri).await.expect("connect");
        sqlx::query(
            "CREATE TABLE iceberg_tables (catalog_name TEXT, table_namespace TEXT, \
             table_name TEXT, metadata_location TEXT, iceberg_type TEXT)",
        )
        .execute(&mut connection)
        .await
        .expect("create");
        connection
    }

    async fn set_location(writer: &mut SqliteConnection, location: &str) {
        sqlx::query("DELETE FROM iceberg_tables")
            .execute(&mut *writer)
            .await
            .expect("delete");
        sqlx::query("INSERT INTO iceberg_tables VALUES ('lake', 's', 't', ?, 'TABLE')")
            .bind(location)
            .execute(&mut *writer)
            .await
            .expect("insert");
    }

    /// The database's files as if last written long ago, so that their stamp settles.
    fn age(database: &Path) {
        let long_ago = SystemTime::now() - Duration::from_secs(60);
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        for path in [database, Path::new(&wal)] {
            if let Ok(file) = std::fs::File::options().write(true).open(path) {
                file.set_modified(long_ago).expect("set mtime");
            }
        }
    }

    #[tokio::test]
    async fn locations_are_reused_only_while_the_database_files_are_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let database = dir.path().join("catalog.db");
        let mut writer = writer(&database).await;
        set_location(&mut writer, "m1").await;
        let uri = format!("sqlite:{}", database.display());
        let locations = MetadataLocations::new(&uri, "lake").expect("locations");
        let ident = TableIdent::from_strs(["s", "t"]).expect("ident");
        let missing = TableIdent::from_strs(["s", "u"]).expect("ident");
        let reads = || locations.reads.load(Ordering::Relaxed);
        let current = async |ident: &TableIdent| locations.current(ident).await.expect("read");

        // Just written: read every time, and a commit right after is seen.
        assert_eq!(current(&ident).await.as_deref(), Some("m1"));
        assert_eq!(current(&ident).await.as_deref(), Some("m1"));
        assert_eq!(reads(), 2);
        set_location(&mut writer, "m2").await;
        assert_eq!(current(&ident).await.as_deref(), Some("m2"));

        // Settled: read once, then answered from memory (a missing table too).
        age(&database);
        let before = reads();
        for _ in 0..3 {
            assert_eq!(current(&ident).await.as_deref(), Some("m2"));
            assert_eq!(current(&missing).await, None);
        }
        assert_eq!(reads(), before + 2);

        // A commit (to the write-ahead log) changes a file: the next statement reads
        // the new location.
        set_location(&mut writer, "m3").await;
        assert_eq!(current(&ident).await.as_deref(), Some("m3"));
        assert_eq!(reads(), before + 3);
        // Settled again after a commit, the files make another stamp.
        age(&database);
        assert_eq!(current(&ident).await.as_deref(), Some("m3"));
        set_location(&mut writer, "m4").await;
        age(&database);
        assert_eq!(current(&ident).await.as_deref(), Some("m4"));
        // And once the log is checkpointed into the database file and removed.
        writer.close().await.expect("close");
        age(&database);
        assert_eq!(current(&ident).await.as_deref(), Some("m4"));
        let mut writer = SqliteConnection::connect(&format!("sqlite:{}", database.display()))
            .await
            .expect("connect");
        set_location(&mut writer, "m5").await;
        writer.close().await.expect("close");
        age(&database);
        assert_eq!(current(&ident).await.as_deref(), Some("m5"));
    }
}

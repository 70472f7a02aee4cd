//! What planning needs of an Iceberg snapshot, parsed once: its live data files with
//! their statistics, whether it has delete files, and the bytes of metadata it is
//! described by; and each catalog's loaded tables, kept while their metadata file stays
//! current so that iceberg's own cache of parsed manifests serves the next statement.
//!
//! A snapshot never changes once committed, so its parsed listing is kept by table
//! UUID and snapshot id in one bounded process-wide cache. Parsing manifests (Avro, with
//! their embedded schemas) cost about a millisecond per table reference per statement
//! before (Q2 of TPC-H names nine), which is what a dashboard's small queries pay first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use iceberg::spec::{DataContentType, DataFile, ManifestContentType, SnapshotRef};
use iceberg::table::Table;
use iceberg::{Result, TableIdent};
use moka::sync::Cache;

use super::sql_locations::MetadataLocations;
use crate::metadata_cache::CacheFigures;

/// The parsed listing of one snapshot.
#[derive(Debug)]
pub(crate) struct SnapshotFiles {
    /// Every live data file, as its manifests describe it.
    pub(crate) files: Vec<DataFile>,
    /// Whether a live delete file (position or equality) applies to some data file.
    pub(crate) has_deletes: bool,
    /// Bytes of the manifest list and of every manifest it lists: what a scan of the
    /// snapshot is planned over, metered the same whether read or cached.
    pub(crate) metadata_bytes: u64,
}

/// Snapshots kept when none is configured: about this many MiB of parsed manifests.
const SNAPSHOT_CACHE_MB: u64 = 64;

struct Snapshots {
    cache: Cache<(String, i64), Arc<SnapshotFiles>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

static SNAPSHOTS: OnceLock<Snapshots> = OnceLock::new();

fn snapshots() -> &'static Snapshots {
    SNAPSHOTS.get_or_init(|| Snapshots {
        cache: Cache::builder()
            .max_capacity(SNAPSHOT_CACHE_MB * 1024 * 1024)
            .weigher(|_, files: &Arc<SnapshotFiles>| weight(files))
            .build(),
        hits: AtomicU64::default(),
        misses: AtomicU64::default(),
    })
}

/// An estimate of the memory a listing holds: a data file's fixed fields, its path
/// and one entry per column figure.
fn weight(files: &SnapshotFiles) -> u32 {
    let bytes: usize = files
        .files
        .iter()
        .map(|f| {
            let figures = f.column_sizes().len()
                + f.value_counts().len()
                + f.null_value_counts().len()
                + f.lower_bounds().len()
                + f.upper_bounds().len();
            256 + f.file_path().len() + 48 * figures
        })
        .sum();
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// The listing of `snapshot` of `table`, from the cache or parsed from its manifests.
pub(crate) async fn snapshot_files(
    table: &Table,
    snapshot: &SnapshotRef,
) -> Result<Arc<SnapshotFiles>> {
    let key = (table.metadata().uuid().to_string(), snapshot.snapshot_id());
    let cache = snapshots();
    if let Some(found) = cache.cache.get(&key) {
        cache.hits.fetch_add(1, Ordering::Relaxed);
        return Ok(found);
    }
    cache.misses.fetch_add(1, Ordering::Relaxed);
    let listed = Arc::new(read_snapshot(table, snapshot).await?);
    cache.cache.insert(key, listed.clone());
    Ok(listed)
}

async fn read_snapshot(table: &Table, snapshot: &SnapshotRef) -> Result<SnapshotFiles> {
    let list_bytes = table
        .file_io()
        .new_input(snapshot.manifest_list())?
        .metadata()
        .await?
        .size;
    let manifests = table.manifest_list_reader(snapshot).load().await?;
    let mut listed = SnapshotFiles {
        files: Vec::new(),
        has_deletes: false,
        metadata_bytes: list_bytes,
    };
    for manifest in manifests.entries() {
        listed.metadata_bytes += u64::try_from(manifest.manifest_length).unwrap_or(0);
        let loaded = manifest.load_manifest(table.file_io()).await?;
        for entry in loaded.entries().iter().filter(|e| e.is_alive()) {
            let file = entry.data_file();
            match (manifest.content, file.content_type()) {
                (ManifestContentType::Data, DataContentType::Data) => {
                    listed.files.push(file.clone())
                }
                _ => listed.has_deletes = true,
            }
        }
    }
    Ok(listed)
}

/// The snapshot cache's figures.
pub fn snapshot_cache_figures() -> CacheFigures {
    let cache = snapshots();
    cache.cache.run_pending_tasks();
    CacheFigures {
        hits: cache.hits.load(Ordering::Relaxed),
        misses: cache.misses.load(Ordering::Relaxed),
        bytes: cache.cache.weighted_size(),
        entries: cache.cache.entry_count(),
    }
}

/// Tables one catalog loaded, each kept while its metadata file is the current one.
#[derive(Debug)]
pub(crate) struct LoadedTables {
    tables: Cache<TableIdent, Table>,
    /// Where an iceberg-sql catalog's current metadata files are read in one query.
    locations: Option<MetadataLocations>,
}

/// Tables kept per catalog; each holds iceberg's own bounded cache of parsed manifests.
const LOADED_TABLES: u64 = 128;

impl Default for LoadedTables {
    fn default() -> Self {
        Self {
            tables: Cache::new(LOADED_TABLES),
            locations: None,
        }
    }
}

impl LoadedTables {
    /// Tables of an iceberg-sql catalog, whose current metadata files `locations`
    /// reads.
    pub(crate) fn with_locations(locations: Option<MetadataLocations>) -> Self {
        Self {
            locations,
            ..Self::default()
        }
    }

    /// Whether this catalog's current metadata files can be read without loading.
    pub(crate) fn reads_locations(&self) -> bool {
        self.locations.is_some()
    }

    /// Whether `ident`'s current metadata file is `location` (`None`: cannot tell).
    pub(crate) async fn location_is(&self, ident: &TableIdent, location: &str) -> Option<bool> {
        match self.locations.as_ref()?.current(ident).await {
            Ok(current) => Some(current.as_deref() == Some(location)),
            Err(error) => {
                tracing::debug!(%error, table = %ident, "reading the metadata location failed");
                None
            }
        }
    }

    /// The table kept for `ident`, if its metadata file is still the one the catalog
    /// lists (asked of the catalog's database, without loading the table). `None`
    /// means it must be loaded: nothing kept, a new metadata file, or a catalog
    /// whose locations cannot be read this way.
    pub(crate) async fn kept_if_current(&self, ident: &TableIdent) -> Option<Table> {
        let locations = self.locations.as_ref()?;
        let kept = self.tables.get(ident)?;
        match locations.current(ident).await {
            Ok(Some(location)) if kept.metadata_location() == Some(location.as_str()) => Some(kept),
            Ok(_) => None,
            Err(error) => {
                tracing::debug!(%error, table = %ident, "reading the metadata location failed; loading the table");
                None
            }
        }
    }

    /// The table as just loaded from the catalog, or the one kept from an earlier
    /// statement when both were loaded from the same metadata file (then they are the
    /// same table at the same snapshots, and the kept one's parsed manifests are warm).
    pub(crate) fn current(&self, loaded: Table) -> Table {
        let ident = loaded.identifier().clone();
        if let Some(kept) = self.tables.get(&ident)
            && kept.metadata_location().is_some()
            && kept.metadata_location() == loaded.metadata_location()
        {
            return kept;
        }
        self.tables.insert(ident, loaded.clone());
        loaded
    }
}

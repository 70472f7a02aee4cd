//! Bounded in-memory caches of what never changes once written, shared by the whole
//! process: Iceberg's table metadata files, manifest lists and manifests (read through
//! the catalogs' storage, kept by path and checked by size), and Parquet footers with
//! their page indexes (DataFusion's file metadata cache, counted here). Each counts its
//! hits and misses for `/metrics`: the first query after a start may read metadata,
//! the second must not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use datafusion::execution::cache::cache_manager::{
    CachedFileMetadataEntry, FileMetadataCache, FileMetadataCacheEntry,
};
use datafusion::execution::cache::{CacheAccessor, DefaultFilesMetadataCache};
use moka::sync::Cache;
use object_store::path::Path;

/// The size of each cache when none is configured, in MiB.
pub const DEFAULT_METADATA_CACHE_MB: u64 = 256;

/// Hits and misses of one cache.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Counters {
    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a cache holds and how often it answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheFigures {
    pub hits: u64,
    pub misses: u64,
    /// Bytes held (for footers: their size in memory).
    pub bytes: u64,
    pub entries: u64,
}

/// Iceberg metadata files by path: (size, contents).
struct IcebergFiles {
    files: Cache<String, (u64, Bytes)>,
    counters: Counters,
}

static ICEBERG_FILES: OnceLock<IcebergFiles> = OnceLock::new();
static FOOTERS: OnceLock<Counters> = OnceLock::new();

/// Sizes the Iceberg metadata cache at `mb` MiB; only the first call (or first use)
/// counts, as the cache is the process's.
pub fn configure_metadata_cache(mb: u64) {
    iceberg_files_sized(mb);
}

fn iceberg_files_sized(mb: u64) -> &'static IcebergFiles {
    ICEBERG_FILES.get_or_init(|| IcebergFiles {
        files: Cache::builder()
            .max_capacity(mb.saturating_mul(1024 * 1024))
            .weigher(|path: &String, (_, bytes): &(u64, Bytes)| {
                u32::try_from(path.len() + bytes.len()).unwrap_or(u32::MAX)
            })
            .build(),
        counters: Counters::default(),
    })
}

fn iceberg_files() -> &'static IcebergFiles {
    iceberg_files_sized(DEFAULT_METADATA_CACHE_MB)
}

/// Whether Iceberg never rewrites the file at `path`: table metadata
/// (`….metadata.json`), manifest lists and manifests (`….avro` under `metadata/`).
/// Data files are read in ranges and go through the footer cache instead.
pub(crate) fn is_immutable_metadata(path: &str) -> bool {
    path.contains("/metadata/") && (path.ends_with(".metadata.json") || path.ends_with(".avro"))
}

/// The cached contents of `path` if they are `size` bytes long; counts a hit or miss.
pub(crate) fn cached_metadata(path: &str, size: u64) -> Option<Bytes> {
    let cache = iceberg_files();
    let found = cache
        .files
        .get(path)
        .filter(|(cached_size, _)| *cached_size == size)
        .map(|(_, bytes)| bytes);
    cache.counters.count(found.is_some());
    found
}

/// Keeps the contents of the metadata file at `path`.
pub(crate) fn keep_metadata(path: &str, bytes: Bytes) {
    iceberg_files()
        .files
        .insert(path.to_string(), (bytes.len() as u64, bytes));
}

/// Forgets a metadata file that was deleted.
pub(crate) fn forget_metadata(path: &str) {
    if let Some(cache) = ICEBERG_FILES.get() {
        cache.files.invalidate(path);
    }
}

/// The Iceberg metadata cache's figures.
pub fn iceberg_metadata_figures() -> CacheFigures {
    let cache = iceberg_files();
    cache.files.run_pending_tasks();
    CacheFigures {
        hits: cache.counters.hits.load(Ordering::Relaxed),
        misses: cache.counters.misses.load(Ordering::Relaxed),
        bytes: cache.files.weighted_size(),
        entries: cache.files.entry_count(),
    }
}

fn footer_counters() -> &'static Counters {
    FOOTERS.get_or_init(Counters::default)
}

/// The Parquet footer cache's hits and misses (its size is the runtime's to tell, see
/// [`CountedFooterCache::figures`]).
pub fn footer_counts() -> (u64, u64) {
    let counters = footer_counters();
    (
        counters.hits.load(Ordering::Relaxed),
        counters.misses.load(Ordering::Relaxed),
    )
}

/// DataFusion's cache of Parquet footers and page indexes, bounded by bytes, counting
/// its hits and misses.
pub struct CountedFooterCache {
    inner: DefaultFilesMetadataCache,
}

impl std::fmt::Debug for CountedFooterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountedFooterCache")
            .field("limit", &self.inner.cache_limit())
            .field("entries", &self.inner.len())
            .finish()
    }
}

impl CountedFooterCache {
    /// A cache of at most `mb` MiB.
    pub fn new(mb: u64) -> Arc<Self> {
        let limit = usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
        Arc::new(Self {
            inner: DefaultFilesMetadataCache::new(limit),
        })
    }

    /// Its figures: hits and misses of the process, bytes and entries of this cache.
    pub fn figures(&self) -> CacheFigures {
        let (hits, misses) = footer_counts();
        CacheFigures {
            hits,
            misses,
            bytes: self.inner.memory_used() as u64,
            entries: self.inner.len() as u64,
        }
    }
}

impl CacheAccessor<Path, CachedFileMetadataEntry> for CountedFooterCache {
    fn get(&self, key: &Path) -> Option<CachedFileMetadataEntry> {
        let found = self.inner.get(key);
        footer_counters().count(found.is_some());
        found
    }

    fn put(&self, key: &Path, value: CachedFileMetadataEntry) -> Option<CachedFileMetadataEntry> {
        self.inner.put(key, value)
    }

    fn remove(&self, key: &Path) -> Option<CachedFileMetadataEntry> {
        self.inner.remove(key)
    }

    fn contains_key(&self, key: &Path) -> bool {
        self.inner.contains_key(key)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn clear(&self) {
        self.inner.clear()
    }

    fn name(&self) -> String {
        "CountedFooterCache".to_string()
    }
}

impl FileMetadataCache for CountedFooterCache {
    fn cache_limit(&self) -> usize {
        self.inner.cache_limit()
    }

    fn update_cache_limit(&self, limit: usize) {
        self.inner.update_cache_limit(limit)
    }

    fn list_entries(&self) -> HashMap<Path, FileMetadataCacheEntry> {
        self.inner.list_entries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_iceberg_metadata_files_are_immutable() {
        assert!(is_immutable_metadata(
            "file:///w/tpch/nation/metadata/00001-5c2a.metadata.json"
        ));
        assert!(is_immutable_metadata(
            "s3://b/w/tpch/nation/metadata/snap-123-1-ab.avro"
        ));
        assert!(is_immutable_metadata(
            "/w/tpch/nation/metadata/ab12-m0.avro"
        ));
        assert!(!is_immutable_metadata(
            "/w/tpch/nation/metadata/version-hint.text"
        ));
        assert!(!is_immutable_metadata(
            "/w/tpch/nation/data/00000-0.parquet"
        ));
    }

    #[test]
    fn a_file_of_another_size_is_a_miss() {
        let path = "/test/a_file_of_another_size/metadata/x.metadata.json";
        keep_metadata(path, Bytes::from_static(b"{}"));
        assert_eq!(cached_metadata(path, 2), Some(Bytes::from_static(b"{}")));
        assert_eq!(cached_metadata(path, 3), None);
        forget_metadata(path);
        assert_eq!(cached_metadata(path, 2), None);
    }
}

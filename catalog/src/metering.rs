//! What a query reads from storage, counted where the bytes are read.
//!
//! A [`ScanMeter`] is placed in the session config of one query (a DataFusion session
//! config extension). Every table this crate serves looks for it when the query is planned and,
//! when it is there, reads through [`CountingStorage`]: the table's own storage wrapped
//! so that every byte range read, every data file opened and every row produced by the
//! scan is added to the meter. Nothing is estimated; a query that never opens a data
//! file shows zero data files.

use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage,
    StorageConfig, StorageFactory,
};
use iceberg::table::Table;

/// Storage counters of one query.
#[derive(Debug, Default)]
pub struct ScanMeter {
    data_bytes: AtomicU64,
    metadata_bytes: AtomicU64,
    read_requests: AtomicU64,
    data_files: AtomicU64,
    snapshot_files: AtomicU64,
    row_groups: AtomicU64,
    row_groups_read: AtomicU64,
    rows: AtomicU64,
    /// The Parquet files DataFusion's scans opened, with their row groups.
    parquet_files: std::sync::Mutex<std::collections::HashMap<String, RowGroups>>,
}

/// A snapshot of a [`ScanMeter`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanFigures {
    /// Bytes read from data files (Parquet column chunks, footers, indexes).
    pub data_bytes: u64,
    /// Bytes read from table metadata (manifest lists and manifests).
    pub metadata_bytes: u64,
    /// Ranged reads and whole-file reads issued to storage.
    pub read_requests: u64,
    /// Data files opened.
    pub data_files: u64,
    /// Data files in the snapshots the scans read: those not opened were pruned (by
    /// partition or column statistics) or not needed (a LIMIT was reached).
    pub snapshot_files: u64,
    /// Row groups in the data files opened (from their Parquet footers).
    pub row_groups: u64,
    /// Row groups whose column chunks were read: the others were pruned by their
    /// statistics or not needed.
    pub row_groups_read: u64,
    /// Rows the table scans produced (after the pruning they do themselves).
    pub rows: u64,
}

impl ScanFigures {
    /// The figures in field order (as `from_values` takes them).
    pub fn values(&self) -> [u64; 8] {
        [
            self.data_bytes,
            self.metadata_bytes,
            self.read_requests,
            self.data_files,
            self.snapshot_files,
            self.row_groups,
            self.row_groups_read,
            self.rows,
        ]
    }

    /// Figures from their values in field order.
    pub fn from_values(values: [u64; 8]) -> Self {
        let [
            data_bytes,
            metadata_bytes,
            read_requests,
            data_files,
            snapshot_files,
            row_groups,
            row_groups_read,
            rows,
        ] = values;
        Self {
            data_bytes,
            metadata_bytes,
            read_requests,
            data_files,
            snapshot_files,
            row_groups,
            row_groups_read,
            rows,
        }
    }

    /// Every byte read from storage.
    pub fn bytes(&self) -> u64 {
        self.data_bytes + self.metadata_bytes
    }
}

impl ScanMeter {
    /// The counters as they are now.
    pub fn figures(&self) -> ScanFigures {
        ScanFigures {
            data_bytes: self.data_bytes.load(Ordering::Relaxed),
            metadata_bytes: self.metadata_bytes.load(Ordering::Relaxed),
            read_requests: self.read_requests.load(Ordering::Relaxed),
            data_files: self.data_files.load(Ordering::Relaxed),
            snapshot_files: self.snapshot_files.load(Ordering::Relaxed),
            row_groups: self.row_groups.load(Ordering::Relaxed),
            row_groups_read: self.row_groups_read.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
        }
    }

    /// Adds figures measured elsewhere (a distributed worker's scans).
    pub fn add_figures(&self, figures: &ScanFigures) {
        let counters = [
            &self.data_bytes,
            &self.metadata_bytes,
            &self.read_requests,
            &self.data_files,
            &self.snapshot_files,
            &self.row_groups,
            &self.row_groups_read,
            &self.rows,
        ];
        for (counter, value) in counters.into_iter().zip(figures.values()) {
            counter.fetch_add(value, Ordering::Relaxed);
        }
    }

    /// Counts the data files of a snapshot a scan reads.
    pub fn add_snapshot_files(&self, files: u64) {
        self.snapshot_files.fetch_add(files, Ordering::Relaxed);
    }

    /// Counts the bytes of table metadata (a manifest list and its manifests) a scan
    /// was planned over, whether storage or a cache of them served it.
    pub(crate) fn add_metadata_bytes(&self, bytes: u64) {
        self.metadata_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts rows a scan produced.
    pub fn add_rows(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// Counts a Parquet data file a DataFusion scan opened, and its row groups (once
    /// per file: a file split into byte ranges is opened by each range's reader).
    pub(crate) fn add_parquet_file(
        &self,
        path: &str,
        metadata: &parquet::file::metadata::ParquetMetaData,
    ) {
        let mut files = self.parquet_files.lock().unwrap_or_else(|e| e.into_inner());
        if !files.contains_key(path) {
            let groups = RowGroups::from_metadata(metadata);
            self.data_files.fetch_add(1, Ordering::Relaxed);
            self.row_groups
                .fetch_add(groups.ranges.len() as u64, Ordering::Relaxed);
            files.insert(path.to_string(), groups);
        }
    }

    /// Counts the row groups of a Parquet file that a read of `range` touches.
    pub(crate) fn add_parquet_range(&self, path: &str, range: &Range<u64>) {
        let mut files = self.parquet_files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(groups) = files.get_mut(path) {
            let newly = groups.mark(range);
            self.row_groups_read.fetch_add(newly, Ordering::Relaxed);
        }
    }

    /// Counts one read of `bytes` from the file at `path` (data or metadata by its
    /// extension).
    pub fn add_file_read(&self, path: &str, bytes: u64) {
        self.add_read(path, bytes);
    }

    fn add_read(&self, path: &str, bytes: u64) {
        self.read_requests.fetch_add(1, Ordering::Relaxed);
        let counter = if is_data_file(path) {
            &self.data_bytes
        } else {
            &self.metadata_bytes
        };
        counter.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Data files are Parquet (also ORC and Avro data, which this gateway does not write),
/// and the CSV and JSON files of files catalogs; Iceberg manifests and manifest lists are
/// Avro, table metadata `.metadata.json`; a Delta table's log (JSON commits, Parquet
/// checkpoints) is under `_delta_log/`.
fn is_data_file(path: &str) -> bool {
    let path = path.to_ascii_lowercase();
    if path.contains("_delta_log/") {
        return false;
    }
    path.ends_with(".parquet")
        || path.ends_with(".orc")
        || path.ends_with(".csv")
        || (path.ends_with(".json") && !path.ends_with(".metadata.json"))
}

/// The table, reading through storage that counts into `meter`. Metadata already loaded
/// is kept; only reads made from now on (manifests, data files) are counted.
pub fn metered_table(table: &Table, meter: Arc<ScanMeter>) -> iceberg::Result<Table> {
    let file_io = metered_file_io(table.file_io(), meter);
    let mut builder = Table::builder()
        .file_io(file_io)
        .metadata(table.metadata_ref())
        .identifier(table.identifier().clone())
        .readonly(table.readonly())
        .runtime(iceberg::Runtime::try_current()?);
    if let Some(location) = table.metadata_location() {
        builder = builder.metadata_location(location);
    }
    builder.build()
}

fn metered_file_io(file_io: &FileIO, meter: Arc<ScanMeter>) -> FileIO {
    let factory = CountingStorageFactory {
        inner: file_io.clone(),
        meter,
    };
    FileIOBuilder::new(Arc::new(factory))
        .with_props(file_io.config().props().clone())
        .build()
}

/// Builds [`CountingStorage`] over the storage of an existing FileIO.
#[derive(Debug)]
struct CountingStorageFactory {
    inner: FileIO,
    meter: Arc<ScanMeter>,
}

#[typetag::serde]
impl StorageFactory for CountingStorageFactory {
    fn build(&self, _config: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(CountingStorage {
            inner: self.inner.clone(),
            meter: self.meter.clone(),
        }))
    }
}

/// Storage that forwards to a FileIO and counts what is read.
#[derive(Debug, Clone)]
pub struct CountingStorage {
    inner: FileIO,
    meter: Arc<ScanMeter>,
}

// iceberg registers Storage implementations for serialization; a per-query meter has
// no meaning outside this process, so this storage refuses to be serialized.
impl serde::Serialize for CountingStorage {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "a metered storage cannot be serialized",
        ))
    }
}

impl<'de> serde::Deserialize<'de> for CountingStorage {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "a metered storage cannot be deserialized",
        ))
    }
}

impl serde::Serialize for CountingStorageFactory {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "a metered storage cannot be serialized",
        ))
    }
}

impl<'de> serde::Deserialize<'de> for CountingStorageFactory {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "a metered storage cannot be deserialized",
        ))
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for CountingStorage {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        self.inner.exists(path).await
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        self.inner.new_input(path)?.metadata().await
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        let bytes = self.inner.new_input(path)?.read().await?;
        if is_data_file(path) {
            self.meter.data_files.fetch_add(1, Ordering::Relaxed);
        }
        self.meter.add_read(path, bytes.len() as u64);
        Ok(bytes)
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        let inner = self.inner.new_input(path)?.reader().await?;
        if is_data_file(path) {
            self.meter.data_files.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Box::new(CountingRead {
            inner,
            path: path.to_string(),
            meter: self.meter.clone(),
            first: std::sync::Mutex::new(None),
            row_groups: std::sync::Mutex::new(None),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> iceberg::Result<()> {
        self.inner.new_output(path)?.write(bs).await
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        self.inner.new_output(path)?.writer().await
    }

    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        self.inner.delete(path).await
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        self.inner.delete_prefix(path).await
    }

    async fn delete_stream(&self, paths: BoxStream<'static, String>) -> iceberg::Result<()> {
        self.inner.delete_stream(paths).await
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

/// The largest first read a file reader keeps to serve later reads from: the footer
/// prefetch (512 KiB by default), with room to spare.
const KEPT_FIRST_READ: usize = 1024 * 1024;

/// A file reader that counts the bytes of every range it reads from storage.
///
/// Parquet readers first fetch a file's tail to find the footer, with a generous
/// prefetch, and then its column chunks; on a small file the prefetch already holds
/// the whole file. That first read is kept (up to [`KEPT_FIRST_READ`] bytes) and a later
/// read inside it is answered from it, so such a file is read from storage once, and
/// counted once. Nothing else is kept: column chunks are not held after they are read.
struct CountingRead {
    inner: Box<dyn FileRead>,
    path: String,
    meter: Arc<ScanMeter>,
    first: std::sync::Mutex<Option<(Range<u64>, Bytes)>>,
    /// The row groups of a Parquet file, from the footer in its first read.
    row_groups: std::sync::Mutex<Option<RowGroups>>,
}

/// Where a Parquet file's row groups lie, and which of them have been read.
#[derive(Debug)]
pub(crate) struct RowGroups {
    ranges: Vec<Range<u64>>,
    read: Vec<bool>,
}

impl RowGroups {
    /// The row groups of the file whose tail `bytes` is, if it holds the whole footer.
    fn from_tail(bytes: &[u8]) -> Option<Self> {
        use parquet::file::metadata::{
            FooterTail, ParquetMetaDataOptions, ParquetMetaDataReader, ParquetStatisticsPolicy,
        };
        let footer = FooterTail::try_from(bytes.get(bytes.len().checked_sub(8)?..)?).ok()?;
        let start = bytes.len().checked_sub(8 + footer.metadata_length())?;
        // Only the chunks' offsets are needed: statistics are not decoded.
        let options = ParquetMetaDataOptions::new()
            .with_column_stats_policy(ParquetStatisticsPolicy::SkipAll)
            .with_encoding_stats_policy(ParquetStatisticsPolicy::SkipAll)
            .with_size_stats_policy(ParquetStatisticsPolicy::SkipAll);
        let metadata = ParquetMetaDataReader::decode_metadata_with_options(
            &bytes[start..bytes.len() - 8],
            Some(&options),
        )
        .ok()?;
        Some(Self::from_metadata(&metadata))
    }

    /// The row groups a Parquet footer describes, none read yet.
    pub(crate) fn from_metadata(metadata: &parquet::file::metadata::ParquetMetaData) -> Self {
        let ranges: Vec<Range<u64>> = metadata
            .row_groups()
            .iter()
            .filter_map(|group| {
                let spans = group.columns().iter().map(|c| {
                    let (offset, length) = c.byte_range();
                    (offset, offset + length)
                });
                let start = spans.clone().map(|(s, _)| s).min()?;
                let end = spans.map(|(_, e)| e).max()?;
                Some(start..end)
            })
            .collect();
        let read = vec![false; ranges.len()];
        Self { ranges, read }
    }

    /// Marks the row groups `range` overlaps; returns how many were not marked before.
    pub(crate) fn mark(&mut self, range: &Range<u64>) -> u64 {
        let mut newly = 0;
        for (group, read) in self.ranges.iter().zip(self.read.iter_mut()) {
            if !*read && group.start < range.end && range.start < group.end {
                *read = true;
                newly += 1;
            }
        }
        newly
    }
}

impl CountingRead {
    /// Attributes a read after the footer's to the row groups it touches.
    fn count_row_groups(&self, range: &Range<u64>) {
        let mut groups = self.row_groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(groups) = groups.as_mut() {
            let newly = groups.mark(range);
            if newly > 0 {
                self.meter
                    .row_groups_read
                    .fetch_add(newly, Ordering::Relaxed);
            }
        }
    }

    fn kept(&self, range: &Range<u64>) -> Option<Bytes> {
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        let (held, bytes) = first.as_ref()?;
        (held.start <= range.start && range.end <= held.end).then(|| {
            let start = (range.start - held.start) as usize;
            let end = (range.end - held.start) as usize;
            bytes.slice(start..end.min(bytes.len()))
        })
    }
}

#[async_trait]
impl FileRead for CountingRead {
    async fn read(&self, range: Range<u64>) -> iceberg::Result<Bytes> {
        if let Some(bytes) = self.kept(&range) {
            self.count_row_groups(&range);
            return Ok(bytes);
        }
        let bytes = self.inner.read(range.clone()).await?;
        self.meter.add_read(&self.path, bytes.len() as u64);
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            // The first read of a Parquet file is its tail, for the footer: it tells
            // where the row groups are; the reads after it are of row groups.
            if is_data_file(&self.path)
                && let Some(groups) = RowGroups::from_tail(&bytes)
            {
                self.meter
                    .row_groups
                    .fetch_add(groups.ranges.len() as u64, Ordering::Relaxed);
                *self.row_groups.lock().unwrap_or_else(|e| e.into_inner()) = Some(groups);
            }
            if bytes.len() <= KEPT_FIRST_READ {
                *first = Some((range, bytes.clone()));
                return Ok(bytes);
            }
            // Too large to keep: remembered as empty, so later reads are not the first.
            *first = Some((range.start..range.start, Bytes::new()));
            return Ok(bytes);
        }
        drop(first);
        self.count_row_groups(&range);
        Ok(bytes)
    }
}

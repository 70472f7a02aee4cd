//! Delta Lake tables as a catalog (`type = "delta"`): under the catalog's location (a
//! local directory or `s3://bucket/prefix`), each directory is a schema and each
//! sub-directory holding a `_delta_log` is a table. Tables are read through
//! deltalake-core's DataFusion provider (delta-kernel log replay, files skipped by the
//! log's column statistics, Parquet predicate pushdown), loaded at their latest version
//! when a statement names them, or at the version or time a statement travels to
//! (`"t$snapshot=<version>"`, `"t$timestamp=<epoch millis>"`). Bytes are counted where
//! the Parquet data is read; the log itself is metadata and not counted.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result as DFResult};
use deltalake_core::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use deltalake_core::{DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStore;
use object_store::path::Path;

use crate::files::open_location;
use crate::listed::{ListedCatalog, Listing, Opened, Source, path_under};
use crate::metered_files::MeteredFileTable;
use crate::{CatalogConfig, CatalogError, Result};

/// The directory of a Delta table's log.
const LOG_DIR: &str = "_delta_log";

/// Which version of a Delta table a name reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaVersion {
    /// The latest.
    Latest,
    /// One version (`FOR VERSION AS OF`).
    Version(i64),
    /// The latest version committed at or before a time, in milliseconds since the
    /// epoch (`FOR TIMESTAMP AS OF`).
    AsOf(i64),
}

/// The name that reads `table` as of `millis` (milliseconds since the epoch).
pub fn timestamp_name(table: &str, millis: i64) -> String {
    format!("{table}$timestamp={millis}")
}

/// Reads a table name of a Delta schema: `t`, `t$snapshot=<version>` or
/// `t$timestamp=<millis>`.
pub fn parse_name(name: &str) -> std::result::Result<(&str, DeltaVersion), String> {
    let Some((base, suffix)) = name.split_once('$') else {
        return Ok((name, DeltaVersion::Latest));
    };
    let number = |s: &str| s.parse::<i64>().ok();
    match suffix.split_once('=') {
        Some(("snapshot", v)) if number(v).is_some_and(|v| v >= 0) => {
            Ok((base, DeltaVersion::Version(number(v).unwrap_or_default())))
        }
        Some(("timestamp", t)) if number(t).is_some() => {
            Ok((base, DeltaVersion::AsOf(number(t).unwrap_or_default())))
        }
        _ => Err(format!(
            "table {name:?}: unknown suffix ${suffix} (Delta tables have no metadata tables; \
             time travel is FOR VERSION AS OF <version> or FOR TIMESTAMP AS OF <time>)"
        )),
    }
}

/// Opens the directory `location` of `config` holding one directory per schema.
pub(crate) async fn open(config: &CatalogConfig) -> Result<Opened> {
    let error = |message: String| CatalogError::Config {
        catalog: config.name.clone(),
        message,
    };
    let location = config
        .location
        .as_deref()
        .ok_or_else(|| error("a delta catalog needs `location`".into()))?;
    if config.format.is_some() {
        return Err(error("`format` applies to files catalogs only".into()));
    }
    let (root, store) = open_location(location, &config.options).map_err(error)?;
    if root.scheme() == "s3" {
        register_s3_log_store();
    }
    let url = AsRef::<url::Url>::as_ref(&root.object_store()).clone();
    let lake = DeltaLake {
        name: config.name.clone(),
        root,
        store: store.clone(),
    };
    Ok((ListedCatalog::open(Arc::new(lake)).await?, (url, store)))
}

/// Lets deltalake open tables under `s3://` with the store we built (deltalake-core
/// knows `file://` and `memory://`; its own S3 support is a separate crate). Commits go
/// through its default log store: a put-if-absent of the next version's log entry,
/// which S3 supports.
fn register_s3_log_store() {
    #[derive(Debug)]
    struct S3LogStores;
    impl LogStoreFactory for S3LogStores {
        fn with_options(
            &self,
            prefixed_store: ObjectStoreRef,
            root_store: ObjectStoreRef,
            location: &url::Url,
            options: &StorageConfig,
        ) -> deltalake_core::DeltaResult<Arc<dyn LogStore>> {
            Ok(default_logstore(
                prefixed_store,
                root_store,
                location,
                options,
            ))
        }
    }
    if let Ok(scheme) = url::Url::parse("s3://") {
        logstore_factories()
            .entry(scheme)
            .or_insert_with(|| Arc::new(S3LogStores));
    }
}

/// Where a Delta catalog's tables are.
struct DeltaLake {
    name: String,
    /// The location, ending in `/`.
    root: ListingTableUrl,
    /// The store at the root of the location's file system or bucket.
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for DeltaLake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaLake")
            .field("name", &self.name)
            .field("root", &self.root)
            .finish()
    }
}

impl DeltaLake {
    fn prefix(&self, parts: &[&str]) -> Path {
        path_under(&self.root, parts)
    }

    /// Whether `schema/table` holds a Delta log.
    async fn is_table(&self, schema: &str, table: &str) -> object_store::Result<bool> {
        let log = self.prefix(&[schema, table, LOG_DIR]);
        let listed = self.store.list_with_delimiter(Some(&log)).await?;
        Ok(!listed.objects.is_empty())
    }
}

fn store_error(context: String) -> impl FnOnce(object_store::Error) -> CatalogError {
    move |e| CatalogError::DataFusion {
        context,
        source: DataFusionError::ObjectStore(Box::new(e)),
    }
}

fn delta_error(e: DeltaTableError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl Source for DeltaLake {
    async fn list(&self) -> Result<Listing> {
        let failed = || store_error(format!("listing delta catalog {}", self.name));
        let top = self
            .store
            .list_with_delimiter(Some(&self.prefix(&[])))
            .await
            .map_err(failed())?;
        let mut listing = Listing::new();
        for schema in top.common_prefixes {
            let Some(schema) = schema.filename().map(str::to_string) else {
                continue;
            };
            let inside = self
                .store
                .list_with_delimiter(Some(&self.prefix(&[&schema])))
                .await
                .map_err(failed())?;
            let mut tables = Vec::new();
            for table in inside.common_prefixes {
                let Some(table) = table.filename() else {
                    continue;
                };
                if self.is_table(&schema, table).await.map_err(failed())? {
                    tables.push(table.to_string());
                }
            }
            tables.sort();
            listing.insert(schema, tables);
        }
        Ok(listing)
    }

    async fn table(&self, schema: &str, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let (table, version) = parse_name(name).map_err(DataFusionError::Plan)?;
        // Looked up in storage each time: a commit made by another writer is read by
        // the next statement.
        if !self
            .is_table(schema, table)
            .await
            .map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?
        {
            return Ok(None);
        }
        let url = url::Url::parse(&format!("{}{schema}/{table}/", self.root.as_str()))
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut builder = DeltaTableBuilder::from_url(url.clone())
            .map_err(delta_error)?
            .with_storage_backend(self.store.clone(), url.clone());
        builder = match version {
            DeltaVersion::Latest => builder,
            DeltaVersion::Version(v) => builder.with_version(v as u64),
            DeltaVersion::AsOf(millis) => {
                let at = chrono::DateTime::from_timestamp_millis(millis).ok_or_else(|| {
                    DataFusionError::Plan(format!("{millis} ms is not a valid time"))
                })?;
                builder.with_timestamp(at)
            }
        };
        let loaded = builder.load().await.map_err(|e| match (&e, version) {
            (_, DeltaVersion::Latest) => delta_error(e),
            // An unknown version or a time before the first commit is the user's error.
            _ => DataFusionError::Plan(format!(
                "{}.{schema}.{table}: cannot travel to {version:?}: {e}",
                self.name
            )),
        })?;
        let snapshot = loaded.snapshot().map_err(delta_error)?;
        // deltalake reads the first version for a time before it; Trino and Spark say
        // there was no table then.
        if let DeltaVersion::AsOf(millis) = version
            && let Some(committed) = snapshot.version_timestamp(snapshot.version())
            && committed > millis
        {
            return Err(DataFusionError::Plan(format!(
                "{}.{schema}.{table} has no version at or before {}: its first commit is at {}",
                self.name,
                format_millis(millis),
                format_millis(committed),
            )));
        }
        let files = snapshot.log_data().num_files() as u64;
        let version = format!("delta:{url}@{}", snapshot.version());
        let provider = loaded.table_provider().build().await?;
        Ok(Some(Arc::new(MeteredFileTable::versioned(
            Arc::new(provider),
            version,
            files,
        ))))
    }
}

fn format_millis(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_else(|| format!("{millis} ms"))
}

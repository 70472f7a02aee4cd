//! Directories of Parquet, CSV or JSON files as a catalog: under the catalog's location,
//! each directory is a schema, and each sub-directory (all its files) or file
//! (`name.parquet`) in it is a table. Tables are DataFusion listing tables, found and
//! their schemas inferred when a statement names them; reads go through the object
//! store registered for the location, which counts bytes per query.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::listed::{ListedCatalog, Listing, Opened, Source, path_under};
use crate::metered_files::MeteredFileTable;
use crate::{CatalogConfig, CatalogError, Result};

/// The file formats a files catalog reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Apache Parquet (`.parquet`).
    Parquet,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Newline-delimited JSON objects (`.json`).
    Json,
}

impl FileKind {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "parquet" => Some(FileKind::Parquet),
            "csv" => Some(FileKind::Csv),
            "json" => Some(FileKind::Json),
            _ => None,
        }
    }

    const ALL: [FileKind; 3] = [FileKind::Parquet, FileKind::Csv, FileKind::Json];

    /// The kind a file name's extension says.
    fn of(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| name.to_ascii_lowercase().ends_with(kind.extension()))
    }

    fn extension(self) -> &'static str {
        match self {
            FileKind::Parquet => ".parquet",
            FileKind::Csv => ".csv",
            FileKind::Json => ".json",
        }
    }

    fn format(self) -> Arc<dyn FileFormat> {
        match self {
            FileKind::Parquet => Arc::new(ParquetFormat::default()),
            FileKind::Csv => Arc::new(CsvFormat::default().with_has_header(true)),
            FileKind::Json => Arc::new(JsonFormat::default()),
        }
    }
}

/// Where a files catalog's tables are.
pub(crate) struct Files {
    name: String,
    /// The location, ending in `/`.
    root: ListingTableUrl,
    store: Arc<dyn ObjectStore>,
    /// The one format read, or `None`: each table's by its files' extension.
    kind: Option<FileKind>,
    /// Infers schemas with the catalog's store registered.
    inference: SessionContext,
}

/// Opens the directory `location` of `config` (local or `s3://`) holding `format` files.
pub(crate) async fn open(config: &CatalogConfig) -> Result<Opened> {
    let error = |message: String| CatalogError::Config {
        catalog: config.name.clone(),
        message,
    };
    let location = config
        .location
        .as_deref()
        .ok_or_else(|| error("a files catalog needs `location`".into()))?;
    let kind = match config.format.as_deref() {
        None => None,
        Some(name) => Some(
            FileKind::parse(name)
                .ok_or_else(|| error(format!("unknown format {name:?} (parquet, csv or json)")))?,
        ),
    };
    let (root, store) = open_location(location, &config.options).map_err(error)?;
    let inference = SessionContext::new();
    inference.register_object_store(root.object_store().as_ref(), store.clone());
    let url = AsRef::<url::Url>::as_ref(&root.object_store()).clone();
    let files = Files {
        name: config.name.clone(),
        root,
        store: store.clone(),
        kind,
        inference,
    };
    Ok((ListedCatalog::open(Arc::new(files)).await?, (url, store)))
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("name", &self.name)
            .field("root", &self.root)
            .finish()
    }
}

impl Files {
    /// The kind of a data file this catalog reads, if it reads it.
    fn accepts(&self, file: &str) -> Option<FileKind> {
        let kind = FileKind::of(file)?;
        self.kind.is_none_or(|only| only == kind).then_some(kind)
    }

    fn prefix(&self, parts: &[&str]) -> Path {
        path_under(&self.root, parts)
    }
}

#[async_trait]
impl Source for Files {
    async fn list(&self) -> Result<Listing> {
        let failed = |source: object_store::Error| CatalogError::DataFusion {
            context: format!("listing files catalog {}", self.name),
            source: DataFusionError::ObjectStore(Box::new(source)),
        };
        let top = self
            .store
            .list_with_delimiter(Some(&self.prefix(&[])))
            .await
            .map_err(failed)?;
        let mut listing = Listing::new();
        for schema in top.common_prefixes {
            let Some(name) = schema.filename().map(str::to_string) else {
                continue;
            };
            let inside = self
                .store
                .list_with_delimiter(Some(&schema))
                .await
                .map_err(failed)?;
            let mut tables: Vec<String> = inside
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .chain(inside.objects.iter().filter_map(|o| {
                    let file = o.location.filename()?;
                    let kind = self.accepts(file)?;
                    file.get(..file.len() - kind.extension().len())
                        .map(str::to_string)
                }))
                .collect();
            tables.sort();
            tables.dedup();
            listing.insert(name, tables);
        }
        Ok(listing)
    }

    /// The table `schema.name`: the directory `name/` (its files of the first data
    /// format found) or the file `name.<ext>`.
    async fn table(&self, schema: &str, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        // Looked up in storage each time: files added there are read by the next
        // statement.
        let store_error = |e: object_store::Error| DataFusionError::ObjectStore(Box::new(e));
        let directory = self.prefix(&[schema, name]);
        let mut files = self.store.list(Some(&directory));
        let mut found = None;
        while let Some(object) = files.try_next().await.map_err(store_error)? {
            if let Some(kind) = object.location.filename().and_then(|f| self.accepts(f)) {
                found = Some((format!("{}{schema}/{name}/", self.root.as_str()), kind));
                break;
            }
        }
        if found.is_none() {
            for kind in FileKind::ALL {
                if self.kind.is_some_and(|only| only != kind) {
                    continue;
                }
                let file = self.prefix(&[schema, &format!("{name}{}", kind.extension())]);
                match self.store.head(&file).await {
                    Ok(_) => {
                        let path =
                            format!("{}{schema}/{name}{}", self.root.as_str(), kind.extension());
                        found = Some((path, kind));
                        break;
                    }
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(store_error(e)),
                }
            }
        }
        let Some((path, kind)) = found else {
            return Ok(None);
        };
        let url = ListingTableUrl::parse(&path)?;
        let options = ListingOptions::new(kind.format()).with_file_extension(kind.extension());
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .infer_schema(&self.inference.state())
            .await?;
        Ok(Some(Arc::new(MeteredFileTable::read_only(Arc::new(
            ListingTable::try_new(config)?,
        )))))
    }
}

/// The root URL (ending in `/`) and object store of a location: a local directory, or
/// `s3://bucket/prefix` with `options` over the `AWS_*` environment variables.
pub(crate) fn open_location(
    location: &str,
    options: &BTreeMap<String, String>,
) -> std::result::Result<(ListingTableUrl, Arc<dyn ObjectStore>), String> {
    if let Some(rest) = location.strip_prefix("s3://") {
        let bucket = rest.split('/').next().unwrap_or_default();
        if bucket.is_empty() {
            return Err(format!("location {location}: no bucket"));
        }
        let mut builder = crate::s3::builder(bucket);
        for (key, value) in options {
            let key = key
                .parse::<object_store::aws::AmazonS3ConfigKey>()
                .map_err(|e| format!("option {key}: {e}"))?;
            builder = builder.with_config(key, value);
        }
        let store = builder
            .build()
            .map_err(|e| format!("location {location}: {e}"))?;
        let root = ListingTableUrl::parse(format!("{}/", location.trim_end_matches('/')))
            .map_err(|e| format!("location {location}: {e}"))?;
        return Ok((root, Arc::new(store)));
    }
    if !options.is_empty() {
        return Err("`options` apply to s3:// locations only".into());
    }
    let path = std::path::Path::new(location)
        .canonicalize()
        .map_err(|e| format!("location {location}: {e}"))?;
    if !path.is_dir() {
        return Err(format!("location {location} is not a directory"));
    }
    let root = ListingTableUrl::parse(format!("{}/", path.display()))
        .map_err(|e| format!("location {location}: {e}"))?;
    Ok((root, Arc::new(object_store::local::LocalFileSystem::new())))
}

//! An object store that counts the bytes each query reads from it: the storage of files
//! and Delta catalogs, wrapped for one query's meter in that query's runtime, and put
//! under the Parquet scans of that query's plan (which take their store when planned).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DFResult;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::physical_plan::ExecutionPlan;

use crate::metering::ScanMeter;

/// `plan` with every Parquet scan in it reading through its store wrapped to count into
/// `meter`. DataFusion's Parquet scan takes its object store from the session when it
/// is planned (not from the query's runtime at execution, as CSV and JSON scans do), so
/// the store is swapped in the plan itself.
pub(crate) fn count_parquet_reads(
    plan: Arc<dyn ExecutionPlan>,
    state: &dyn Session,
    meter: &Arc<ScanMeter>,
) -> DFResult<Arc<dyn ExecutionPlan>> {
    count_parquet_reads_in(plan, state.runtime_env(), meter)
}

/// [`count_parquet_reads`] with the stores and caches of `runtime` (a worker has a
/// runtime, not the planning session).
pub(crate) fn count_parquet_reads_in(
    plan: Arc<dyn ExecutionPlan>,
    runtime: &RuntimeEnv,
    meter: &Arc<ScanMeter>,
) -> DFResult<Arc<dyn ExecutionPlan>> {
    let cache = runtime.cache_manager.get_file_metadata_cache();
    let counted = plan.transform_down(|node| {
        let Some(exec) = node.as_any().downcast_ref::<DataSourceExec>() else {
            return Ok(Transformed::no(node));
        };
        let Some(config) = exec.data_source().as_any().downcast_ref::<FileScanConfig>() else {
            return Ok(Transformed::no(node));
        };
        let Some(parquet) = config
            .file_source()
            .as_any()
            .downcast_ref::<ParquetSource>()
        else {
            return Ok(Transformed::no(node));
        };
        let store = runtime.object_store(&config.object_store_url)?;
        let counted: Arc<dyn ObjectStore> =
            Arc::new(CountingObjectStore::new(store, meter.clone()));
        let reader = CachedParquetFileReaderFactory::new(counted, cache.clone());
        let source = parquet.clone().with_parquet_file_reader_factory(Arc::new(
            crate::counting_reader::CountingReaderFactory::new(Arc::new(reader), meter.clone()),
        ));
        let config = FileScanConfigBuilder::from(config.clone())
            .with_source(Arc::new(source))
            .build();
        Ok(Transformed::yes(
            DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>
        ))
    })?;
    Ok(counted.data)
}

/// `inner`, with every read counted into `meter`.
#[derive(Debug)]
pub struct CountingObjectStore {
    inner: Arc<dyn ObjectStore>,
    meter: Arc<ScanMeter>,
}

impl CountingObjectStore {
    /// Counts the reads of `inner` into `meter`.
    pub fn new(inner: Arc<dyn ObjectStore>, meter: Arc<ScanMeter>) -> Self {
        Self { inner, meter }
    }
}

impl fmt::Display for CountingObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingObjectStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let head = options.head;
        let result = self.inner.get_opts(location, options).await?;
        if !head {
            self.meter
                .add_file_read(location.as_ref(), result.range.end - result.range.start);
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let bytes = self.inner.get_ranges(location, ranges).await?;
        let read = bytes.iter().map(|b| b.len() as u64).sum();
        self.meter.add_file_read(location.as_ref(), read);
        Ok(bytes)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

//! The data files and row groups DataFusion's Parquet scans open and read, counted into
//! the query's meter (bytes are counted below, by the counting object store). A file's
//! footer may come from the metadata cache without a read; its row groups are still
//! counted when a scan opens it, and a row group as read once a read touches it.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::ParquetFileReaderFactory;
use datafusion::error::Result as DFResult;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::ParquetMetaData;

use crate::metering::ScanMeter;

/// `inner`'s readers, counting into `meter`.
#[derive(Debug)]
pub(crate) struct CountingReaderFactory {
    inner: Arc<dyn ParquetFileReaderFactory>,
    meter: Arc<ScanMeter>,
}

impl CountingReaderFactory {
    pub(crate) fn new(inner: Arc<dyn ParquetFileReaderFactory>, meter: Arc<ScanMeter>) -> Self {
        Self { inner, meter }
    }
}

impl ParquetFileReaderFactory for CountingReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        partitioned_file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> DFResult<Box<dyn AsyncFileReader + Send>> {
        let path = partitioned_file.object_meta.location.to_string();
        let inner = self.inner.create_reader(
            partition_index,
            partitioned_file,
            metadata_size_hint,
            metrics,
        )?;
        Ok(Box::new(CountingReader {
            inner,
            path,
            meter: self.meter.clone(),
        }))
    }
}

/// One reader of one file (or of a byte range of it).
struct CountingReader {
    inner: Box<dyn AsyncFileReader + Send>,
    path: String,
    meter: Arc<ScanMeter>,
}

impl AsyncFileReader for CountingReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.meter.add_parquet_range(&self.path, &range);
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        for range in &ranges {
            self.meter.add_parquet_range(&self.path, range);
        }
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let metadata = self.inner.get_metadata(options).await?;
            self.meter.add_parquet_file(&self.path, &metadata);
            Ok(metadata)
        })
    }
}

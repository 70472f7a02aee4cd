//! Appending record batches to an Iceberg table as Parquet data files, committed as one
//! fast-append snapshot: what seeding, INSERT, compaction and the query history write
//! with.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use iceberg::Catalog;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{DataFile, DataFileFormat, PartitionKey};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::{CatalogError, Result};
/// Rows per Parquet row group written by the gateway.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

type DataWriter = iceberg::writer::base_writer::data_file_writer::DataFileWriter<
    ParquetWriterBuilder,
    DefaultLocationGenerator,
    DefaultFileNameGenerator,
>;

/// Appends record batches to an Iceberg table as Parquet data files, committed as one
/// fast-append snapshot. Batches must have the table's current schema.
pub struct TableAppender {
    table: Table,
    arrow_schema: SchemaRef,
    writer: DataWriter,
}

impl std::fmt::Debug for TableAppender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableAppender")
            .field("table", self.table.identifier())
            .finish()
    }
}

impl TableAppender {
    /// Opens a writer for the table's current schema and properties.
    pub async fn new(table: &Table) -> Result<Self> {
        Self::for_partition(table, None).await
    }

    /// Opens a writer of data files in one partition (`None`: an unpartitioned table),
    /// of `target_file_size` bytes each (default: the table's property).
    pub async fn for_partition(table: &Table, partition: Option<PartitionKey>) -> Result<Self> {
        Self::with_target(table, partition, None).await
    }

    /// [`Self::for_partition`], rolling to a new file at `target_file_size` bytes.
    pub async fn with_target(
        table: &Table,
        partition: Option<PartitionKey>,
        target_file_size: Option<usize>,
    ) -> Result<Self> {
        let name = table.identifier().to_string();
        let context = |what: &str| format!("{what} {name}");
        let metadata = table.metadata();
        let arrow_schema = Arc::new(
            schema_to_arrow_schema(metadata.current_schema())
                .map_err(CatalogError::iceberg(context("converting the schema of")))?,
        );
        let properties = metadata
            .table_properties()
            .map_err(CatalogError::iceberg(context("reading properties of")))?;
        // iceberg-rust does not yet map `write.parquet.*` properties; set what matters
        // for readers: compressed pages and row groups small enough to prune and to
        // stream without holding a whole file in memory.
        let writer_properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let parquet =
            ParquetWriterBuilder::new(writer_properties, metadata.current_schema().clone());
        let locations = DefaultLocationGenerator::new(metadata)
            .map_err(CatalogError::iceberg(context("locating data files of")))?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let names = DefaultFileNameGenerator::new(
            format!("{}-{nanos:x}", table.identifier().name()),
            None,
            DataFileFormat::Parquet,
        );
        let rolling = RollingFileWriterBuilder::new(
            parquet,
            target_file_size.unwrap_or(properties.write_target_file_size_bytes),
            table.file_io().clone(),
            locations,
            names,
        );
        let writer = DataFileWriterBuilder::new(rolling)
            .build(partition)
            .await
            .map_err(CatalogError::iceberg(context("opening a writer for")))?;
        Ok(Self {
            table: table.clone(),
            arrow_schema,
            writer,
        })
    }

    /// The Arrow schema batches must have.
    pub fn arrow_schema(&self) -> SchemaRef {
        self.arrow_schema.clone()
    }

    /// Writes one batch.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .await
            .map_err(CatalogError::iceberg(format!(
                "writing data of {}",
                self.table.identifier()
            )))
    }

    /// Closes the data files, without committing them: the files written.
    pub async fn close(mut self) -> Result<Vec<DataFile>> {
        let name = self.table.identifier().to_string();
        self.writer
            .close()
            .await
            .map_err(CatalogError::iceberg(format!(
                "closing data files of {name}"
            )))
    }

    /// Closes the data files and commits them as one snapshot.
    pub async fn commit(self, catalog: &dyn Catalog) -> Result<Table> {
        let table = self.table.clone();
        let files = self.close().await?;
        commit_files(&table, catalog, files).await
    }
}

/// Commits data files written for `table` as one fast-append snapshot.
pub async fn commit_files(
    table: &Table,
    catalog: &dyn Catalog,
    files: Vec<DataFile>,
) -> Result<Table> {
    let name = table.identifier().to_string();
    let tx = Transaction::new(table);
    let tx = tx
        .fast_append()
        .add_data_files(files)
        .apply(tx)
        .map_err(CatalogError::iceberg(format!(
            "preparing the snapshot of {name}"
        )))?;
    tx.commit(catalog)
        .await
        .map_err(CatalogError::iceberg(format!("committing {name}")))
}

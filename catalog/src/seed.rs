//! Demo data: the eight TPC-H tables written as real Iceberg tables (Parquet data files,
//! manifests, one snapshot per table), with a progress bar.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{
    DataFile, DataFileFormat, NullOrder, PartitionKey, SortDirection, SortField, SortOrder,
    Transform,
};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tokio::sync::mpsc;

use crate::iceberg::LakeCatalog;
use crate::tpch::{TABLES, TpchTable};
use crate::{CatalogError, Result};

/// What to seed and how.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// TPC-H scale factor (1.0 ≈ 1 GB of text; 0.1 is the default demo).
    pub scale_factor: f64,
    /// Namespace (schema) to write the tables into.
    pub schema: String,
    /// Drop and regenerate tables that already exist.
    pub force: bool,
    /// Draw progress bars on the terminal.
    pub progress: bool,
}

/// What seeding did.
#[derive(Debug, Clone)]
pub struct SeedReport {
    /// Tables written, with their row counts; empty when everything was present.
    pub written: Vec<(String, u64)>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Writes every missing TPC-H table (all of them with `force`) into `lake`.
/// A table that exists but has no snapshot (an interrupted earlier seed) is rewritten.
pub async fn seed_tpch(lake: &LakeCatalog, options: &SeedOptions) -> Result<SeedReport> {
    if !(options.scale_factor > 0.0 && options.scale_factor <= 1000.0) {
        return Err(CatalogError::Config {
            catalog: lake.name().to_string(),
            message: format!(
                "scale factor must be in (0, 1000], got {}",
                options.scale_factor
            ),
        });
    }
    let started = Instant::now();
    let catalog = lake.iceberg();
    let namespace = NamespaceIdent::new(options.schema.clone());
    let exists = catalog
        .namespace_exists(&namespace)
        .await
        .map_err(CatalogError::iceberg("checking the TPC-H namespace"))?;
    if !exists {
        catalog
            .create_namespace(&namespace, Default::default())
            .await
            .map_err(CatalogError::iceberg("creating the TPC-H namespace"))?;
    }

    let mut todo = Vec::new();
    for table in TABLES {
        let ident = TableIdent::new(namespace.clone(), table.name().to_string());
        let present = match lake.load_table(&options.schema, table.name()).await? {
            Some(t) => t.metadata().current_snapshot().is_some(),
            None => false,
        };
        if present && !options.force {
            continue;
        }
        if catalog
            .table_exists(&ident)
            .await
            .map_err(CatalogError::iceberg("checking a TPC-H table"))?
        {
            catalog
                .purge_table(&ident)
                .await
                .map_err(CatalogError::iceberg(format!("dropping {}", table.name())))?;
        }
        todo.push(table);
    }

    let bars = MultiProgress::with_draw_target(if options.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let mut written = Vec::new();
    for table in todo {
        let bar = bars.add(ProgressBar::new(table.approx_rows(options.scale_factor)));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>9} [{bar:30}] {human_pos:>10}/{human_len:10} rows {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(table.name());
        let rows = write_table(
            catalog.clone(),
            &namespace,
            table,
            options.scale_factor,
            &bar,
        )
        .await?;
        bar.set_length(rows);
        bar.finish();
        tracing::info!(table = table.name(), rows, "seeded TPC-H table");
        written.push((table.name().to_string(), rows));
    }
    lake.refresh_listing().await?;
    Ok(SeedReport {
        written,
        elapsed: started.elapsed(),
    })
}

/// Creates one table, streams its generated rows into Parquet data files and commits
/// them as one fast-append snapshot.
async fn write_table(
    catalog: Arc<dyn Catalog>,
    namespace: &NamespaceIdent,
    tpch: TpchTable,
    scale_factor: f64,
    bar: &ProgressBar,
) -> Result<u64> {
    let context = |what: &str| format!("{what} {}", tpch.name());
    let schema = tpch
        .iceberg_schema()
        .map_err(CatalogError::iceberg(context("building the schema of")))?;
    // Each data file is sorted by the sort columns (SeedWriter): say so in the metadata.
    let mut order = SortOrder::builder();
    order.with_order_id(1);
    for column in tpch.sort_columns() {
        let field = schema
            .field_by_name(column)
            .ok_or_else(|| CatalogError::Config {
                catalog: namespace.join("."),
                message: format!("{}: no sort column {column}", tpch.name()),
            })?;
        order.with_sort_field(SortField {
            source_id: field.id,
            transform: Transform::Identity,
            direction: SortDirection::Ascending,
            null_order: NullOrder::First,
        });
    }
    let sort_order = match tpch.sort_columns() {
        [] => SortOrder::unsorted_order(),
        _ => order
            .build(&schema)
            .map_err(CatalogError::iceberg(context("building the sort order of")))?,
    };
    let creation = TableCreation::builder()
        .name(tpch.name().to_string())
        .schema(schema)
        .sort_order(sort_order)
        .build();
    let table = catalog
        .create_table(namespace, creation)
        .await
        .map_err(CatalogError::iceberg(context("creating")))?;
    let mut writer = SeedWriter::new(&table, tpch.sort_columns()).await?;
    let arrow_schema = writer.arrow_schema.clone();

    // Generation is CPU work on a blocking thread; the writer consumes batches as they
    // come, so at most a few chunks are in memory.
    let (tx, mut rx) = mpsc::channel::<RecordBatch>(2);
    let producer = tokio::task::spawn_blocking(move || {
        tpch.generate(scale_factor, arrow_schema, &mut |batch| {
            tx.blocking_send(batch)
                .map_err(|_| DataFusionError::Execution("seed writer stopped".into()))
        })
    });
    let mut rows = 0u64;
    while let Some(batch) = rx.recv().await {
        rows += batch.num_rows() as u64;
        bar.set_position(rows);
        writer.write(batch).await?;
    }
    producer
        .await
        .map_err(|e| CatalogError::Config {
            catalog: namespace.join("."),
            message: format!("TPC-H generator for {} panicked: {e}", tpch.name()),
        })?
        .map_err(|source| CatalogError::DataFusion {
            context: context("generating"),
            source,
        })?;
    let files = writer.close().await?;
    commit_files(&table, catalog.as_ref(), files).await?;
    Ok(rows)
}

/// Rows of one sorted data file of a table seeded with a sort order: eight row groups,
/// so that a date range prunes most of them, and a few files per table at SF 1.
const SORTED_FILE_ROWS: usize = 8 * ROW_GROUP_ROWS;

/// Writes a seeded table's data files: as generated, or, for a table with sort
/// columns, in files of [`SORTED_FILE_ROWS`] rows each sorted by them (a bounded run
/// in memory; a date range then prunes row groups in every file, so scans of it still
/// spread over all files and cores).
struct SeedWriter {
    table: Table,
    arrow_schema: SchemaRef,
    /// The sort columns' indices; empty: write as generated.
    sort: Vec<usize>,
    appender: Option<TableAppender>,
    run: Vec<RecordBatch>,
    run_rows: usize,
    files: Vec<DataFile>,
}

impl SeedWriter {
    async fn new(table: &Table, sort_columns: &[&str]) -> Result<Self> {
        let appender = TableAppender::new(table).await?;
        let arrow_schema = appender.arrow_schema();
        let sort = sort_columns
            .iter()
            .map(|c| {
                arrow_schema.index_of(c).map_err(|e| CatalogError::Config {
                    catalog: table.identifier().to_string(),
                    message: format!("sort column {c}: {e}"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            table: table.clone(),
            arrow_schema,
            appender: sort.is_empty().then_some(appender),
            sort,
            run: Vec::new(),
            run_rows: 0,
            files: Vec::new(),
        })
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if let Some(appender) = &mut self.appender {
            return appender.write(batch).await;
        }
        self.run_rows += batch.num_rows();
        self.run.push(batch);
        if self.run_rows >= SORTED_FILE_ROWS {
            self.write_run().await?;
        }
        Ok(())
    }

    /// Sorts the rows held and writes them as one data file.
    async fn write_run(&mut self) -> Result<()> {
        let name = self.table.identifier().to_string();
        let arrow = |e: arrow::error::ArrowError| CatalogError::Config {
            catalog: name.clone(),
            message: format!("sorting seeded rows: {e}"),
        };
        let batch = concat_batches(&self.arrow_schema, &self.run).map_err(arrow)?;
        self.run.clear();
        self.run_rows = 0;
        let columns: Vec<SortColumn> = self
            .sort
            .iter()
            .map(|i| SortColumn {
                values: batch.column(*i).clone(),
                options: None,
            })
            .collect();
        let indices = lexsort_to_indices(&columns, None).map_err(arrow)?;
        let sorted = take_record_batch(&batch, &indices).map_err(arrow)?;
        drop(batch);
        let mut appender = TableAppender::new(&self.table).await?;
        appender.write(sorted).await?;
        self.files.extend(appender.close().await?);
        Ok(())
    }

    /// The data files written, to commit.
    async fn close(mut self) -> Result<Vec<DataFile>> {
        if let Some(appender) = self.appender.take() {
            return appender.close().await;
        }
        if !self.run.is_empty() {
            self.write_run().await?;
        }
        Ok(self.files)
    }
}

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

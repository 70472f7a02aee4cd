//! Demo data: the eight TPC-H tables written as real Iceberg tables (Parquet data files,
//! manifests, one snapshot per table), with a progress bar.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use iceberg::spec::{DataFile, NullOrder, SortDirection, SortField, SortOrder, Transform};
use iceberg::table::Table;
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
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

pub use crate::iceberg::appender::{ROW_GROUP_ROWS, TableAppender, commit_files};

//! `INSERT INTO` an Iceberg table: the input's rows are written as Parquet data files
//! (in a partitioned table, one writer per partition value the rows carry) and
//! committed as one fast-append snapshot when the input ends, so a statement adds
//! all of its rows or none. Commits are optimistic: the catalog accepts a snapshot only
//! on top of the metadata it was built from, and iceberg-rust retries a conflicting
//! append on the new metadata; a commit that still conflicts fails the statement cleanly.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PlanProperties,
};
use futures::StreamExt;
use iceberg::Catalog;
use iceberg::table::Table;

use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{DataFile, Struct};

use crate::iceberg::appender::{TableAppender, commit_files};
use crate::{CatalogError, WriteError};

/// Writes its input into an Iceberg table and commits one snapshot.
pub struct IcebergAppendExec {
    table: Table,
    catalog: Arc<dyn Catalog>,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for IcebergAppendExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IcebergAppendExec")
            .field("table", self.table.identifier())
            .finish()
    }
}

/// The schema of a DML result: the number of rows written.
fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

impl IcebergAppendExec {
    /// Appends `input` to `table`, committing through `catalog`.
    pub fn new(table: Table, catalog: Arc<dyn Catalog>, input: Arc<dyn ExecutionPlan>) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(count_schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            table,
            catalog,
            input,
            properties,
        }
    }
}

impl DisplayAs for IcebergAppendExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "IcebergAppendExec: table={}", self.table.identifier())
    }
}

impl ExecutionPlan for IcebergAppendExec {
    fn name(&self) -> &str {
        "IcebergAppendExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    // One writer sees every row, so one snapshot holds them all.
    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(Self::new(
                self.table.clone(),
                self.catalog.clone(),
                input,
            ))),
            _ => Err(DataFusionError::Internal(
                "IcebergAppendExec takes one input".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "IcebergAppendExec has one partition, not {partition}"
            )));
        }
        let input = self.input.execute(0, context)?;
        let table = self.table.clone();
        let catalog = self.catalog.clone();
        let written = async move {
            let rows = append(table, catalog, input).await?;
            Ok(RecordBatch::try_new(
                count_schema(),
                vec![Arc::new(UInt64Array::from(vec![rows]))],
            )?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            count_schema(),
            futures::stream::once(written),
        )))
    }
}

fn external(e: CatalogError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Partitions one INSERT may write at once (one open Parquet writer each).
pub const MAX_OPEN_PARTITIONS: usize = 1000;

/// The writers of one INSERT: one for an unpartitioned table, one per partition value
/// (computed from the rows by the table's partition transforms) otherwise.
enum Writers {
    Unpartitioned(Box<TableAppender>),
    Partitioned {
        splitter: Box<RecordBatchPartitionSplitter>,
        open: Vec<(Struct, TableAppender)>,
    },
}

impl Writers {
    async fn new(table: &Table) -> Result<Self, CatalogError> {
        let metadata = table.metadata();
        let spec = metadata.default_partition_spec();
        if spec.is_unpartitioned() {
            return Ok(Writers::Unpartitioned(Box::new(
                TableAppender::new(table).await?,
            )));
        }
        let splitter = RecordBatchPartitionSplitter::try_new_with_computed_values(
            metadata.current_schema().clone(),
            spec.clone(),
        )
        .map_err(CatalogError::iceberg(format!(
            "partitioning rows for {}",
            table.identifier()
        )))?;
        Ok(Writers::Partitioned {
            splitter: Box::new(splitter),
            open: Vec::new(),
        })
    }

    async fn write(&mut self, table: &Table, batch: RecordBatch) -> DFResult<()> {
        match self {
            Writers::Unpartitioned(appender) => appender.write(batch).await.map_err(external),
            Writers::Partitioned { splitter, open } => {
                let parts = splitter.split(&batch).map_err(|e| {
                    external(CatalogError::iceberg(format!(
                        "partitioning rows for {}",
                        table.identifier()
                    ))(e))
                })?;
                for (key, rows) in parts {
                    // Bound first: the iterator must not live across the await below.
                    let found = open.iter().position(|(p, _)| p == key.data());
                    let index = match found {
                        Some(index) => index,
                        None => {
                            if open.len() >= MAX_OPEN_PARTITIONS {
                                return Err(DataFusionError::External(Box::new(
                                    WriteError::Unsupported {
                                        message: format!(
                                            "INSERT into {} writes more than \
                                             {MAX_OPEN_PARTITIONS} partitions at once; split it",
                                            table.identifier()
                                        ),
                                    },
                                )));
                            }
                            let data = key.data().clone();
                            let appender = TableAppender::for_partition(table, Some(key))
                                .await
                                .map_err(external)?;
                            open.push((data, appender));
                            open.len() - 1
                        }
                    };
                    // The splitter's batches keep the table's schema.
                    open[index].1.write(rows).await.map_err(external)?;
                }
                Ok(())
            }
        }
    }

    /// Closes every writer; the data files written.
    async fn close(self) -> Result<Vec<DataFile>, CatalogError> {
        match self {
            Writers::Unpartitioned(appender) => appender.close().await,
            Writers::Partitioned { open, .. } => {
                let mut files = Vec::new();
                for (_, appender) in open {
                    files.extend(appender.close().await?);
                }
                Ok(files)
            }
        }
    }
}

/// Writes every batch of `input`, then commits them as one snapshot; the row count.
async fn append(
    table: Table,
    catalog: Arc<dyn Catalog>,
    mut input: SendableRecordBatchStream,
) -> DFResult<u64> {
    let name = table.identifier().to_string();
    let schema = Arc::new(
        iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema()).map_err(|e| {
            external(CatalogError::iceberg(format!(
                "converting the schema of {name}"
            ))(e))
        })?,
    );
    let mut writers = Writers::new(&table).await.map_err(external)?;
    let mut rows = 0u64;
    while let Some(batch) = input.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            if !field.is_nullable() && column.null_count() > 0 {
                return Err(DataFusionError::External(Box::new(WriteError::NotNull {
                    table: name.clone(),
                    column: field.name().clone(),
                })));
            }
        }
        // The table's schema carries the Iceberg field ids the writer needs, and its
        // types: strings the plan carries as views are written as strings.
        let columns = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(
                |(field, column)| match column.data_type() == field.data_type() {
                    true => Ok(column.clone()),
                    false => datafusion::arrow::compute::cast(column, field.data_type()),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        rows += batch.num_rows() as u64;
        writers.write(&table, batch).await?;
    }
    if rows == 0 {
        // Nothing to commit: no empty snapshot.
        return Ok(0);
    }
    let files = writers.close().await.map_err(external)?;
    match commit_files(&table, catalog.as_ref(), files).await {
        Ok(_) => Ok(rows),
        Err(CatalogError::Iceberg { source, .. })
            if source.kind() == iceberg::ErrorKind::CatalogCommitConflicts =>
        {
            Err(DataFusionError::External(Box::new(WriteError::Conflict {
                table: name,
                message: source.to_string(),
            })))
        }
        Err(e) => Err(external(e)),
    }
}

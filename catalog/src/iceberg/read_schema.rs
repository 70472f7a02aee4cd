//! The schema statements read an Iceberg table with: Iceberg's Arrow schema with its
//! strings as views (views.rs) and without field metadata.
//!
//! Iceberg's Arrow schema tags every column with its field id (`PARQUET:field_id`).
//! DataFusion 53 joins the metadata of a UNION's inputs differently in the logical plan
//! (keeps what all inputs agree on) and the physical plan (merges all), so a UNION of
//! columns with different field ids failed with "Physical input schema should be the
//! same as the one converted from logical input schema" (apache/datafusion#18337; found
//! by the differential test). Reads do not need the ids: DataFusion's scan matches
//! columns by name over the files Iceberg plans, Iceberg's own reader maps ids itself,
//! and writes build their schema from the table's metadata (append_exec.rs).

use std::any::Any;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::Statistics;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::execution_plan::CardinalityEffect;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, RecordBatchStream,
};
use futures::Stream;

use super::views::with_string_views;

/// The schema statements see for a table whose Iceberg Arrow schema is `schema`.
pub(super) fn read_schema(schema: &SchemaRef) -> SchemaRef {
    without_field_metadata(&with_string_views(schema))
}

fn without_field_metadata(schema: &SchemaRef) -> SchemaRef {
    if schema.fields().iter().all(|f| f.metadata().is_empty()) {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_metadata(Default::default()))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `scan` with its columns' field metadata dropped (Iceberg's own reader keeps it).
pub fn without_scan_metadata(scan: Arc<dyn ExecutionPlan>) -> DFResult<Arc<dyn ExecutionPlan>> {
    let schema = without_field_metadata(&scan.schema());
    if Arc::ptr_eq(&schema, &scan.schema()) {
        return Ok(scan);
    }
    let properties = scan.properties().as_ref().clone().with_eq_properties(
        scan.properties()
            .eq_properties
            .clone()
            .with_new_schema(schema.clone())?,
    );
    Ok(Arc::new(ReadSchemaExec {
        input: scan,
        schema,
        properties: Arc::new(properties),
    }))
}

/// Whether `plan` is the node [`without_scan_metadata`] puts over a scan.
pub fn is_read_schema(plan: &dyn ExecutionPlan) -> bool {
    plan.as_any().is::<ReadSchemaExec>()
}

/// Passes batches through under a schema that differs only in field metadata.
#[derive(Debug)]
struct ReadSchemaExec {
    input: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl DisplayAs for ReadSchemaExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ReadSchemaExec")
    }
}

impl ExecutionPlan for ReadSchemaExec {
    fn name(&self) -> &str {
        "ReadSchemaExec"
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

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }

    fn partition_statistics(&self, partition: Option<usize>) -> DFResult<Statistics> {
        self.input.partition_statistics(partition)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => without_scan_metadata(input),
            _ => Err(DataFusionError::Internal(
                "ReadSchemaExec takes one input".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        Ok(Box::pin(Reschemed {
            input: self.input.execute(partition, context)?,
            schema: self.schema.clone(),
        }))
    }
}

struct Reschemed {
    input: SendableRecordBatchStream,
    schema: SchemaRef,
}

impl Stream for Reschemed {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let schema = self.schema.clone();
        self.input.as_mut().poll_next(cx).map(|item| {
            item.map(|batch| {
                batch.and_then(|batch| {
                    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
                    RecordBatch::try_new_with_options(schema, batch.columns().to_vec(), &options)
                        .map_err(Into::into)
                })
            })
        })
    }
}

impl RecordBatchStream for Reschemed {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

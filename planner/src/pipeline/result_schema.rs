//! One result schema per statement: what Describe, `GetFlightInfo`, `GetSchema` and a
//! prepared statement announce is exactly what the rows are streamed under.
//!
//! The schema is taken from the optimized plan (after the security rules have put
//! masks and filters in, which change types and nullability), with PostgreSQL's column
//! names. Execution plans the statement again; its batches are conformed to the
//! announced schema: relabelled (names, nullability, metadata) and, where a type
//! differs, cast. Nullability may only be relaxed: a batch that holds NULLs in a column
//! announced NOT NULL fails the query rather than being sent under a false schema.

use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, SessionState};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use futures::Stream;

use crate::{ErrorKind, QueryError, Result};
use lakegate_pg_compat::output_names::postgres_schema;

/// The schema a query's rows are announced and streamed with: the optimized plan's
/// schema with PostgreSQL's column names.
pub(crate) fn announced_schema(statement: &DFStatement, optimized: &LogicalPlan) -> SchemaRef {
    let schema = optimized.schema().inner().clone();
    postgres_schema(statement, &schema).unwrap_or(schema)
}

/// The schema a statement will stream, computed while it is described: the plan is
/// analyzed (security rules included) and optimized as execution will do it. A plan
/// whose parameters are not yet typed may not optimize; it is described by its
/// analyzed form, and its rows are cast to that schema at execution.
pub(crate) fn describe_schema(
    state: &SessionState,
    statement: &DFStatement,
    plan: &LogicalPlan,
) -> Result<SchemaRef> {
    match state.optimize(plan) {
        Ok(optimized) => Ok(announced_schema(statement, &optimized)),
        Err(error) if has_placeholders(plan) => {
            tracing::debug!(%error, "describing a parameterized plan by its analyzed form");
            let analyzed = state.analyzer().execute_and_check(
                plan.clone(),
                state.config_options(),
                |_, _| {},
            )?;
            Ok(announced_schema(statement, &analyzed))
        }
        Err(error) => Err(error.into()),
    }
}

fn has_placeholders(plan: &LogicalPlan) -> bool {
    plan.get_parameter_types()
        .map(|types| !types.is_empty())
        .unwrap_or(true)
}

/// Presents a stream's batches under the announced schema.
pub(crate) struct ConformedStream {
    inner: SendableRecordBatchStream,
    schema: SchemaRef,
}

impl ConformedStream {
    /// `inner` under `schema`; the same stream when it already has that schema.
    /// A different number of columns is the error PostgreSQL gives when a table changed
    /// between a statement's preparation and its execution.
    pub(crate) fn wrap(
        inner: SendableRecordBatchStream,
        schema: SchemaRef,
    ) -> Result<SendableRecordBatchStream> {
        let actual = inner.schema();
        if actual == schema {
            return Ok(inner);
        }
        if actual.fields().len() != schema.fields().len() {
            return Err(QueryError::new(
                ErrorKind::FeatureNotSupported,
                format!(
                    "cached plan must not change result type: the statement was described \
                     with {} columns and now returns {}; prepare it again",
                    schema.fields().len(),
                    actual.fields().len()
                ),
            ));
        }
        Ok(Box::pin(Self { inner, schema }))
    }
}

/// `batch` under `schema`: columns of another type are cast, and every field takes the
/// announced name, nullability and metadata.
pub(crate) fn conform(batch: RecordBatch, schema: &SchemaRef) -> DFResult<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            let column: ArrayRef = if column.data_type() == field.data_type() {
                column.clone()
            } else {
                // Never the "safe" cast: a value that does not fit is an error, not NULL.
                let options = CastOptions {
                    safe: false,
                    ..Default::default()
                };
                cast_with_options(column, field.data_type(), &options)?
            };
            if !field.is_nullable() && column.null_count() > 0 {
                return Err(DataFusionError::Internal(format!(
                    "column \"{}\" was announced NOT NULL but the plan produced NULLs",
                    field.name()
                )));
            }
            Ok(column)
        })
        .collect::<DFResult<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
}

impl Stream for ConformedStream {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let schema = self.schema.clone();
        self.inner
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|result| result.and_then(|batch| conform(batch, &schema))))
    }
}

impl RecordBatchStream for ConformedStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int32Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(nullable: bool, values: Vec<Option<i64>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "x",
            DataType::Int64,
            nullable,
        )]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).expect("batch")
    }

    #[test]
    fn relaxes_nullability_and_casts() {
        let announced = Arc::new(Schema::new(vec![Field::new("y", DataType::Int32, true)]));
        let out = conform(batch(false, vec![Some(1), Some(2)]), &announced).expect("conform");
        assert_eq!(out.schema(), announced);
        let values = out
            .column(0)
            .as_any()
            .downcast_ref::<Int32Array>()
            .expect("int32");
        assert_eq!(values.values(), &[1, 2]);
    }

    #[test]
    fn never_narrows_over_nulls() {
        let announced = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        assert!(conform(batch(true, vec![Some(1)]), &announced).is_ok());
        let error = conform(batch(true, vec![None]), &announced).expect_err("nulls");
        assert!(error.to_string().contains("announced NOT NULL"), "{error}");
    }
}

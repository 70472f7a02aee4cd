//! Iceberg's strings as Arrow string views. DataFusion's Parquet scan decodes string
//! columns straight into views (no copy of the bytes into one buffer per batch), and
//! its string kernels, hash joins and grouping are fastest on them; plain Parquet
//! tables are read so by default. An Iceberg table's top-level string columns are
//! therefore `Utf8View` to the planner: the native scan reads them as views, Iceberg's
//! own reader (tables with delete files, renamed columns, S3) is cast to them, and
//! writes cast them back to Iceberg's strings (append_exec.rs).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::Result as DFResult;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::expressions::{CastExpr, Column};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};

/// `schema` with its top-level `Utf8` and `LargeUtf8` columns as `Utf8View` (field
/// metadata kept; read_schema.rs drops it).
pub(super) fn with_string_views(schema: &SchemaRef) -> SchemaRef {
    if !schema.fields().iter().any(|f| is_plain_string(f)) {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match is_plain_string(f) {
            true => f.as_ref().clone().with_data_type(DataType::Utf8View),
            false => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn is_plain_string(field: &Field) -> bool {
    matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8)
}

/// `scan`'s rows with their plain string columns cast to views.
pub(super) fn as_string_views(scan: Arc<dyn ExecutionPlan>) -> DFResult<Arc<dyn ExecutionPlan>> {
    let schema = scan.schema();
    if !schema.fields().iter().any(|f| is_plain_string(f)) {
        return Ok(scan);
    }
    let exprs: Vec<ProjectionExpr> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(f.name(), i));
            let expr: Arc<dyn PhysicalExpr> = match is_plain_string(f) {
                true => Arc::new(CastExpr::new(column, DataType::Utf8View, None)),
                false => column,
            };
            ProjectionExpr {
                expr,
                alias: f.name().clone(),
            }
        })
        .collect();
    Ok(Arc::new(ProjectionExec::try_new(exprs, scan)?))
}

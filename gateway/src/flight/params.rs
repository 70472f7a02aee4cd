//! Parameters of Flight SQL prepared statements: the schema announced to clients, and
//! the bound Arrow rows turned into typed values (one execution per row).

use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lakegate_planner::{Prepared, ScalarValue};
use tonic::Status;

/// `$1`, `$2`… with their inferred types (Null where the type cannot be inferred).
pub(crate) fn parameter_schema(prepared: &Prepared) -> SchemaRef {
    Arc::new(Schema::new(
        prepared
            .param_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Field::new(
                    format!("${}", i + 1),
                    t.clone().unwrap_or(DataType::Null),
                    true,
                )
            })
            .collect::<Vec<_>>(),
    ))
}

/// The parameter rows a statement executes with: none for a statement without
/// parameters, else one per bound row, each value cast to the parameter's type.
pub(crate) fn param_rows(
    prepared: &Prepared,
    bound: Option<&RecordBatch>,
) -> Result<Vec<Vec<ScalarValue>>, Status> {
    let wanted = prepared.param_types.len();
    let Some(batch) = bound.filter(|b| b.num_columns() > 0 || wanted > 0) else {
        if wanted > 0 {
            return Err(Status::invalid_argument(format!(
                "the statement has {wanted} parameters: bind them with DoPut first"
            )));
        }
        return Ok(Vec::new());
    };
    if batch.num_columns() != wanted {
        return Err(Status::invalid_argument(format!(
            "the statement has {wanted} parameters, {} were bound",
            batch.num_columns()
        )));
    }
    if wanted == 0 {
        return Ok(Vec::new());
    }
    if batch.num_rows() == 0 {
        return Err(Status::invalid_argument(
            "the parameter binding has no rows",
        ));
    }
    let mut columns = Vec::with_capacity(wanted);
    for (i, (column, target)) in batch
        .columns()
        .iter()
        .zip(&prepared.param_types)
        .enumerate()
    {
        let column = match target {
            Some(target) if column.data_type() != target && !column.data_type().is_null() => {
                arrow::compute::cast(column, target).map_err(|e| {
                    Status::invalid_argument(format!(
                        "parameter ${}: cannot use {} as {target}: {e}",
                        i + 1,
                        column.data_type()
                    ))
                })?
            }
            _ => column.clone(),
        };
        columns.push(column);
    }
    (0..batch.num_rows())
        .map(|row| {
            columns
                .iter()
                .enumerate()
                .map(|(i, column)| {
                    let value = ScalarValue::try_from_array(column.as_ref(), row).map_err(|e| {
                        Status::invalid_argument(format!("parameter ${}: {e}", i + 1))
                    })?;
                    // A typed NULL for a typed parameter.
                    match (&value, &prepared.param_types[i]) {
                        (ScalarValue::Null, Some(target)) => {
                            ScalarValue::try_from(target).map_err(|e| {
                                Status::invalid_argument(format!("parameter ${}: {e}", i + 1))
                            })
                        }
                        _ => Ok(value),
                    }
                })
                .collect()
        })
        .collect()
}

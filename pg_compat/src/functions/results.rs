//! What a function hands back: its value (one scalar when every argument was one) and
//! its result field.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs};

/// A function's result: one value when every argument was one (a constant folds), the
/// array otherwise.
pub(super) fn columnar(result: ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    Ok(if scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
    } else {
        ColumnarValue::Array(result)
    })
}

/// The result field of a function that is NULL exactly when an argument is (the
/// operator it stands for has the same nullability, which plans must keep).
pub(super) fn nullable_as_arguments(
    name: &str,
    data_type: DataType,
    args: &ReturnFieldArgs,
) -> FieldRef {
    let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
    Arc::new(Field::new(name, data_type, nullable))
}

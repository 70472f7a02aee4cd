//! A timestamp cast to text as PostgreSQL writes it (`2024-01-31 10:15:30.5`, and
//! `+00` for a timestamp with time zone), where Arrow writes ISO 8601 with a `T`.
//! Named `text`, PostgreSQL's function-style cast, so that it unparses for PostgreSQL.

use std::any::Any;
use std::sync::Arc;

use chrono::DateTime;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, TimeUnit, TimestampMicrosecondType};
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `text(timestamp)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TimestampText {
    signature: Signature,
}

impl TimestampText {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TimestampText {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(super::results::nullable_as_arguments(
            self.name(),
            DataType::Utf8,
            &args,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("text takes one argument");
        };
        let scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(args.number_rows)?;
        let zone = match array.data_type() {
            DataType::Timestamp(_, zone) => zone.is_some(),
            other => return exec_err!("text(timestamp) got {other}"),
        };
        let micros = cast(&array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        let mut out = StringBuilder::with_capacity(micros.len(), micros.len() * 26);
        for value in micros.iter() {
            match value.and_then(DateTime::from_timestamp_micros) {
                Some(at) => {
                    let mut text = at.format("%Y-%m-%d %H:%M:%S").to_string();
                    let fraction = at.timestamp_subsec_micros();
                    if fraction != 0 {
                        let digits = format!("{fraction:06}");
                        text.push('.');
                        text.push_str(digits.trim_end_matches('0'));
                    }
                    if zone {
                        text.push_str("+00");
                    }
                    out.append_value(text);
                }
                None => out.append_null(),
            }
        }
        let result: ArrayRef = Arc::new(out.finish());
        super::results::columnar(result, scalar)
    }
}

//! `to_char(value, pattern)` with PostgreSQL's template patterns, for dates,
//! timestamps and numbers, replacing DataFusion's chrono-pattern `to_char`.

use std::any::Any;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{exec_err, not_impl_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::datetime_format::DateTimePattern;
use super::number_format::{NumberPattern, decimal_digits, float_digits};

/// PostgreSQL's `to_char`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToChar {
    signature: Signature,
    aliases: Vec<String>,
}

impl ToChar {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
            aliases: vec!["pg_catalog.to_char".into()],
        }
    }
}

impl ScalarUDFImpl for ToChar {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "to_char"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [value, pattern] if formattable(value) && text(pattern) => Ok(DataType::Utf8),
            [value, pattern] if text(pattern) => not_impl_err!(
                "to_char of {value} is not supported: PostgreSQL's to_char takes a date, \
                 timestamp or number"
            ),
            _ => datafusion::common::plan_err!(
                "to_char takes a value and a text pattern, as to_char(o_orderdate, 'YYYY-MM-DD')"
            ),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value, pattern] = args.args.as_slice() else {
            return exec_err!("to_char takes two arguments");
        };
        let rows = args.number_rows;
        let scalar_result = matches!(
            (value, pattern),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let values = value.to_array(rows)?;
        let patterns = pattern.to_array(rows)?;
        let patterns = datafusion::arrow::compute::cast(&patterns, &DataType::Utf8)?;
        let patterns = patterns.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 10);
        let mut compiled: Option<(String, Compiled)> = None;
        for row in 0..values.len() {
            if values.is_null(row) || patterns.is_null(row) {
                out.append_null();
                continue;
            }
            let text = patterns.value(row);
            if compiled.as_ref().is_none_or(|(p, _)| p != text) {
                compiled = Some((text.to_string(), Compiled::new(values.data_type(), text)?));
            }
            let Some((_, pattern)) = &compiled else {
                unreachable!("compiled above")
            };
            out.append_value(pattern.format(&values, row)?);
        }
        let array: ArrayRef = Arc::new(out.finish());
        super::results::columnar(array, scalar_result)
    }
}

fn text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

fn formattable(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(..)
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Null
    )
}

enum Compiled {
    DateTime(DateTimePattern),
    Number(NumberPattern),
}

impl Compiled {
    fn new(data_type: &DataType, pattern: &str) -> Result<Self> {
        Ok(match data_type {
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => {
                Self::DateTime(DateTimePattern::compile(pattern))
            }
            _ => match NumberPattern::compile(pattern) {
                Ok(compiled) => Self::Number(compiled),
                Err(message) => return not_impl_err!("to_char: {message}"),
            },
        })
    }

    fn format(&self, values: &ArrayRef, row: usize) -> Result<String> {
        match self {
            Self::DateTime(pattern) => {
                let (at, zone) = date_time(values, row)?;
                Ok(pattern.format(&at, zone))
            }
            Self::Number(pattern) => {
                let digits = pattern.scale();
                let (negative, integer, fraction) = match values.data_type() {
                    DataType::Int8 => int(values.as_primitive::<Int8Type>().value(row), digits),
                    DataType::Int16 => int(values.as_primitive::<Int16Type>().value(row), digits),
                    DataType::Int32 => int(values.as_primitive::<Int32Type>().value(row), digits),
                    DataType::Int64 => int(values.as_primitive::<Int64Type>().value(row), digits),
                    DataType::Decimal128(_, scale) => decimal_digits(
                        values.as_primitive::<Decimal128Type>().value(row),
                        *scale,
                        digits,
                    ),
                    DataType::Float32 => float_digits(
                        f64::from(values.as_primitive::<Float32Type>().value(row)),
                        digits,
                    ),
                    DataType::Float64 => {
                        float_digits(values.as_primitive::<Float64Type>().value(row), digits)
                    }
                    other => return exec_err!("to_char cannot format {other} as a number"),
                };
                Ok(pattern.format(negative, &integer, &fraction))
            }
        }
    }
}

fn int(value: impl Into<i64>, digits: usize) -> (bool, String, String) {
    decimal_digits(i128::from(value.into()), 0, digits)
}

/// A date or timestamp value as a date and time, with its zone's name when it has one
/// (sessions run in UTC).
fn date_time(values: &ArrayRef, row: usize) -> Result<(NaiveDateTime, Option<&'static str>)> {
    let midnight = |days: i64| DateTime::from_timestamp(days * 86_400, 0).map(|t| t.naive_utc());
    let (at, zone) = match values.data_type() {
        DataType::Date32 => (
            midnight(i64::from(values.as_primitive::<Date32Type>().value(row))),
            None,
        ),
        DataType::Date64 => (
            DateTime::from_timestamp_millis(values.as_primitive::<Date64Type>().value(row))
                .map(|t| t.naive_utc()),
            None,
        ),
        DataType::Timestamp(unit, zone) => {
            let at = match unit {
                TimeUnit::Second => DateTime::from_timestamp(
                    values.as_primitive::<TimestampSecondType>().value(row),
                    0,
                ),
                TimeUnit::Millisecond => DateTime::from_timestamp_millis(
                    values.as_primitive::<TimestampMillisecondType>().value(row),
                ),
                TimeUnit::Microsecond => DateTime::from_timestamp_micros(
                    values.as_primitive::<TimestampMicrosecondType>().value(row),
                ),
                TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(
                    values.as_primitive::<TimestampNanosecondType>().value(row),
                )),
            };
            (at.map(|t| t.naive_utc()), zone.as_ref().map(|_| "UTC"))
        }
        other => return exec_err!("to_char cannot format {other} as a date"),
    };
    match at {
        Some(at) => Ok((at, zone)),
        None => exec_err!("timestamp out of range"),
    }
}

//! Arrow record batches → Postgres DataRow messages, text or binary per column.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, BooleanArray, Date32Array,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, LargeBinaryArray,
    LargeStringArray, RecordBatch, StringArray, StringViewArray, TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Schema, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions as ArrowFormatOptions};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;
use rust_decimal::Decimal;

use super::errors::user_error;
use super::types::{pg_type, type_modifier, type_size};

/// Field descriptions for a result schema, with the client's per-column formats.
pub(crate) fn fields(schema: &Schema, format: impl Fn(usize) -> FieldFormat) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let ty = pg_type(field.data_type());
            let size = type_size(&ty);
            FieldInfo::new(field.name().clone(), None, None, ty, format(i))
                .with_type_size(size)
                .with_type_modifier(type_modifier(field.data_type()))
        })
        .collect()
}

/// Encodes every row of a batch.
pub(crate) fn encode_batch(
    batch: &RecordBatch,
    fields: &Arc<Vec<FieldInfo>>,
) -> PgWireResult<Vec<DataRow>> {
    let columns = batch
        .columns()
        .iter()
        .map(Column::new)
        .collect::<PgWireResult<Vec<_>>>()?;
    let text: Vec<bool> = fields
        .iter()
        .map(|f| f.format() == FieldFormat::Text)
        .collect();
    let mut encoder = DataRowEncoder::new(fields.clone());
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (column, text) in columns.iter().zip(&text) {
            column.encode(row, *text, &mut encoder)?;
        }
        rows.push(encoder.take_row());
    }
    Ok(rows)
}

/// One column, normalised to a type with a direct Postgres encoding.
enum Column {
    Bool(BooleanArray),
    I16(Int16Array),
    I32(Int32Array),
    I64(Int64Array),
    F32(Float32Array),
    F64(Float64Array),
    Decimal {
        array: ArrayRef,
        scale: u32,
    },
    Utf8(StringArray),
    LargeUtf8(LargeStringArray),
    Utf8View(StringViewArray),
    Binary(BinaryArray),
    LargeBinary(LargeBinaryArray),
    BinaryView(BinaryViewArray),
    Date(Date32Array),
    Timestamp(TimestampMicrosecondArray),
    TimestampTz(TimestampMicrosecondArray),
    Time(arrow::array::Time64MicrosecondArray),
    /// Anything else, in Arrow's display form.
    Display(ArrayRef),
}

fn normalise(array: &ArrayRef, to: &DataType) -> PgWireResult<ArrayRef> {
    cast(array, to).map_err(|e| user_error("22000", format!("cannot encode column: {e}")))
}

impl Column {
    fn new(array: &ArrayRef) -> PgWireResult<Self> {
        Ok(match array.data_type() {
            DataType::Boolean => Column::Bool(array.as_boolean().clone()),
            DataType::Int8 | DataType::UInt8 => {
                Column::I16(normalise(array, &DataType::Int16)?.as_primitive().clone())
            }
            DataType::Int16 => Column::I16(array.as_primitive().clone()),
            DataType::UInt16 => {
                Column::I32(normalise(array, &DataType::Int32)?.as_primitive().clone())
            }
            DataType::Int32 => Column::I32(array.as_primitive().clone()),
            DataType::UInt32 => {
                Column::I64(normalise(array, &DataType::Int64)?.as_primitive().clone())
            }
            DataType::Int64 => Column::I64(array.as_primitive().clone()),
            DataType::UInt64 => Column::Decimal {
                array: normalise(array, &DataType::Decimal128(20, 0))?,
                scale: 0,
            },
            DataType::Float16 => {
                Column::F32(normalise(array, &DataType::Float32)?.as_primitive().clone())
            }
            DataType::Float32 => Column::F32(array.as_primitive().clone()),
            DataType::Float64 => Column::F64(array.as_primitive().clone()),
            DataType::Decimal128(_, s) if *s >= 0 => Column::Decimal {
                array: array.clone(),
                scale: *s as u32,
            },
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) if *s >= 0 => Column::Decimal {
                array: normalise(array, &DataType::Decimal128(*p, *s))?,
                scale: *s as u32,
            },
            DataType::Utf8 => Column::Utf8(array.as_string().clone()),
            DataType::LargeUtf8 => Column::LargeUtf8(array.as_string().clone()),
            DataType::Utf8View => Column::Utf8View(array.as_string_view().clone()),
            DataType::Binary => Column::Binary(array.as_binary().clone()),
            DataType::LargeBinary => Column::LargeBinary(array.as_binary().clone()),
            DataType::BinaryView => Column::BinaryView(array.as_binary_view().clone()),
            DataType::FixedSizeBinary(_) => {
                Column::Binary(normalise(array, &DataType::Binary)?.as_binary().clone())
            }
            DataType::Date32 => Column::Date(array.as_primitive().clone()),
            DataType::Date64 => {
                Column::Date(normalise(array, &DataType::Date32)?.as_primitive().clone())
            }
            DataType::Timestamp(_, None) => Column::Timestamp(
                normalise(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?
                    .as_primitive()
                    .clone(),
            ),
            DataType::Timestamp(_, Some(_)) => Column::TimestampTz(
                normalise(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?
                    .as_primitive()
                    .clone(),
            ),
            DataType::Time32(_) | DataType::Time64(_) => Column::Time(
                normalise(array, &DataType::Time64(TimeUnit::Microsecond))?
                    .as_primitive()
                    .clone(),
            ),
            DataType::Dictionary(_, value) => {
                let flat = normalise(array, value)?;
                return Column::new(&flat);
            }
            _ => Column::Display(array.clone()),
        })
    }

    fn encode(&self, row: usize, text: bool, out: &mut DataRowEncoder) -> PgWireResult<()> {
        macro_rules! value {
            ($array:expr) => {{
                let a = $array;
                if a.is_null(row) {
                    out.encode_field(&None::<i8>)
                } else {
                    out.encode_field(&a.value(row))
                }
            }};
        }
        match self {
            Column::Bool(a) => value!(a),
            Column::I16(a) => value!(a),
            Column::I32(a) => value!(a),
            Column::I64(a) => value!(a),
            Column::F32(a) if text && !a.is_null(row) && !a.value(row).is_finite() => {
                out.encode_field(&non_finite(f64::from(a.value(row))))
            }
            Column::F64(a) if text && !a.is_null(row) && !a.value(row).is_finite() => {
                out.encode_field(&non_finite(a.value(row)))
            }
            Column::F32(a) => value!(a),
            Column::F64(a) => value!(a),
            Column::Decimal { array, scale } => {
                if array.is_null(row) {
                    return out.encode_field(&None::<i8>);
                }
                let raw = array
                    .as_primitive::<arrow::datatypes::Decimal128Type>()
                    .value(row);
                let decimal = Decimal::try_from_i128_with_scale(raw, *scale).map_err(|_| {
                    user_error(
                        "22003",
                        "numeric value out of range for the wire (over 28 digits)",
                    )
                })?;
                out.encode_field(&decimal)
            }
            Column::Utf8(a) => value!(a),
            Column::LargeUtf8(a) => value!(a),
            Column::Utf8View(a) => value!(a),
            Column::Binary(a) => value!(a),
            Column::LargeBinary(a) => value!(a),
            Column::BinaryView(a) => value!(a),
            Column::Date(a) => {
                if a.is_null(row) {
                    return out.encode_field(&None::<i8>);
                }
                let days = a.value(row);
                let date = NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                    .ok_or_else(|| user_error("22008", "date out of range"))?;
                out.encode_field(&date)
            }
            Column::Timestamp(a) => {
                if a.is_null(row) {
                    return out.encode_field(&None::<i8>);
                }
                let ts = DateTime::<Utc>::from_timestamp_micros(a.value(row))
                    .ok_or_else(|| user_error("22008", "timestamp out of range"))?;
                if text {
                    let shown = postgres_timestamp(&ts.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f"));
                    return out.encode_field(&shown);
                }
                out.encode_field(&ts.naive_utc())
            }
            Column::TimestampTz(a) => {
                if a.is_null(row) {
                    return out.encode_field(&None::<i8>);
                }
                let ts = DateTime::<Utc>::from_timestamp_micros(a.value(row))
                    .ok_or_else(|| user_error("22008", "timestamp out of range"))?;
                if text {
                    let shown = postgres_timestamp(&ts.format("%Y-%m-%d %H:%M:%S%.6f"));
                    return out.encode_field(&format!("{shown}+00"));
                }
                out.encode_field(&ts)
            }
            Column::Time(a) => {
                if a.is_null(row) {
                    return out.encode_field(&None::<i8>);
                }
                let micros = a.value(row);
                let time = NaiveTime::from_num_seconds_from_midnight_opt(
                    (micros / 1_000_000) as u32,
                    ((micros % 1_000_000) * 1_000) as u32,
                )
                .ok_or_else(|| user_error("22008", "time out of range"))?;
                out.encode_field(&time)
            }
            Column::Display(array) => {
                if array.is_null(row) {
                    return out.encode_field(&None::<i8>);
                }
                let formatter =
                    ArrayFormatter::try_new(array.as_ref(), &ArrowFormatOptions::default())
                        .map_err(|e| user_error("22000", format!("cannot display value: {e}")))?;
                out.encode_field(&formatter.value(row).to_string())
            }
        }
    }
}

/// PostgreSQL's spelling of infinities and NaN.
fn non_finite(value: f64) -> &'static str {
    if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// PostgreSQL's text form of a timestamp: fractional seconds without trailing zeros.
fn postgres_timestamp(formatted: &impl std::fmt::Display) -> String {
    let mut shown = formatted.to_string();
    if shown.contains('.') {
        let trimmed = shown.trim_end_matches('0').trim_end_matches('.').len();
        shown.truncate(trimmed);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::postgres_timestamp;

    #[test]
    fn timestamps_drop_trailing_zero_fractions() {
        assert_eq!(
            postgres_timestamp(&"2024-01-02 03:04:05.000000"),
            "2024-01-02 03:04:05"
        );
        assert_eq!(
            postgres_timestamp(&"2024-01-02 03:04:05.789000"),
            "2024-01-02 03:04:05.789"
        );
        assert_eq!(
            postgres_timestamp(&"2024-01-02 03:04:05.000001"),
            "2024-01-02 03:04:05.000001"
        );
    }
}

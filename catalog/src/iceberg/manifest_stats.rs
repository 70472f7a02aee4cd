//! Statistics of a native Iceberg scan from the snapshot's manifests: per data file and
//! column, the null count, lower and upper bounds and on-disk size, as DataFusion
//! `Statistics` of each file and of the whole scan, so the optimizer orders joins and
//! picks build sides from real figures and skips files whose bounds rule them out.
//!
//! Only row counts are exact (files with delete files never get here). Bounds are
//! inexact on purpose: Iceberg truncates string bounds, and an inexact bound can never
//! let DataFusion answer `min`, `max` or `count(col)` from metadata; it only prunes and
//! estimates. Float bounds are left out (they exclude NaN, which sorts above them).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use iceberg::spec::{DataFile, Datum, PrimitiveLiteral, PrimitiveType};

use super::snapshot_files::SnapshotFiles;

/// The statistics of each of `paths` (data files of the snapshot `listed`) for the
/// columns of `schema`, whose Iceberg field ids are `field_ids` (the read schema carries
/// none, read_schema.rs), by path. Files the manifests do not list are missing from the
/// answer.
pub(super) fn file_statistics(
    listed: &SnapshotFiles,
    schema: &Schema,
    field_ids: &[Option<i32>],
    paths: &HashSet<&str>,
) -> HashMap<String, Arc<Statistics>> {
    listed
        .files
        .iter()
        .filter(|file| paths.contains(file.file_path()))
        .map(|file| {
            let statistics = statistics(file, schema, field_ids);
            (file.file_path().to_string(), Arc::new(statistics))
        })
        .collect()
}

/// One data file's statistics.
fn statistics(file: &DataFile, schema: &Schema, field_ids: &[Option<i32>]) -> Statistics {
    let columns = schema
        .fields()
        .iter()
        .zip(field_ids)
        .map(|(field, id)| {
            let Some(id) = id else {
                return ColumnStatistics::new_unknown();
            };
            let bound = |bounds: &HashMap<i32, Datum>| {
                bounds
                    .get(id)
                    .and_then(|datum| scalar(datum, field.data_type()))
                    .map_or(Precision::Absent, Precision::Inexact)
            };
            let count = |counts: &HashMap<i32, u64>| {
                counts
                    .get(id)
                    .and_then(|n| usize::try_from(*n).ok())
                    .map_or(Precision::Absent, Precision::Inexact)
            };
            ColumnStatistics::new_unknown()
                .with_null_count(count(file.null_value_counts()))
                .with_min_value(bound(file.lower_bounds()))
                .with_max_value(bound(file.upper_bounds()))
                .with_byte_size(count(file.column_sizes()))
        })
        .collect();
    Statistics {
        num_rows: usize::try_from(file.record_count()).map_or(Precision::Absent, Precision::Exact),
        total_byte_size: usize::try_from(file.file_size_in_bytes())
            .map_or(Precision::Absent, Precision::Inexact),
        column_statistics: columns,
    }
}

/// An Iceberg bound as a value of the column's Arrow type, where the two agree on order.
fn scalar(datum: &Datum, data_type: &DataType) -> Option<ScalarValue> {
    let value = match (datum.data_type(), datum.literal()) {
        (PrimitiveType::Boolean, PrimitiveLiteral::Boolean(v)) => ScalarValue::Boolean(Some(*v)),
        (PrimitiveType::Int, PrimitiveLiteral::Int(v)) => ScalarValue::Int32(Some(*v)),
        (PrimitiveType::Long, PrimitiveLiteral::Long(v)) => ScalarValue::Int64(Some(*v)),
        (PrimitiveType::Date, PrimitiveLiteral::Int(v)) => ScalarValue::Date32(Some(*v)),
        (PrimitiveType::Time, PrimitiveLiteral::Long(v)) => {
            ScalarValue::Time64Microsecond(Some(*v))
        }
        (PrimitiveType::Timestamp, PrimitiveLiteral::Long(v)) => {
            ScalarValue::TimestampMicrosecond(Some(*v), None)
        }
        (PrimitiveType::Timestamptz, PrimitiveLiteral::Long(v)) => {
            ScalarValue::TimestampMicrosecond(Some(*v), Some("+00:00".into()))
        }
        (PrimitiveType::Decimal { precision, scale }, PrimitiveLiteral::Int128(v)) => {
            ScalarValue::Decimal128(
                Some(*v),
                u8::try_from(*precision).ok()?,
                i8::try_from(*scale).ok()?,
            )
        }
        (PrimitiveType::String, PrimitiveLiteral::String(v)) => ScalarValue::Utf8(Some(v.clone())),
        _ => return None,
    };
    if value.data_type() == *data_type {
        return Some(value);
    }
    // Only casts that keep order and value: string views, time zones and units of the
    // same instant, wider decimals.
    let keeps_order = matches!(
        (&value.data_type(), data_type),
        (DataType::Utf8, DataType::Utf8View | DataType::LargeUtf8)
            | (DataType::Timestamp(..), DataType::Timestamp(..))
            | (DataType::Decimal128(..), DataType::Decimal128(..))
    );
    if !keeps_order {
        return None;
    }
    let cast = value.cast_to(data_type).ok()?;
    // A cast that lost digits (a narrower decimal, nanoseconds out of range) is no bound.
    (cast.cast_to(&value.data_type()).ok()? == value).then_some(cast)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn bounds_become_values_of_the_column_type() {
        assert_eq!(
            scalar(&Datum::date(9000), &DataType::Date32),
            Some(ScalarValue::Date32(Some(9000)))
        );
        assert_eq!(
            scalar(&Datum::string("abc"), &DataType::Utf8View),
            Some(ScalarValue::Utf8View(Some("abc".into())))
        );
        let decimal = Datum::decimal_from_str("123.45").expect("decimal");
        assert_eq!(
            scalar(&decimal, &DataType::Decimal128(15, 2)),
            Some(ScalarValue::Decimal128(Some(12345), 15, 2))
        );
        assert_eq!(
            scalar(
                &Datum::timestamp_micros(1_000_000),
                &DataType::Timestamp(TimeUnit::Nanosecond, None)
            ),
            Some(ScalarValue::TimestampNanosecond(Some(1_000_000_000), None))
        );
    }

    #[test]
    fn floats_and_mismatched_types_give_no_bound() {
        assert_eq!(scalar(&Datum::double(1.5), &DataType::Float64), None);
        assert_eq!(scalar(&Datum::long(7), &DataType::Int32), None);
        assert_eq!(scalar(&Datum::string("a"), &DataType::Int64), None);
    }
}

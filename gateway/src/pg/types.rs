//! Arrow types ↔ Postgres types.

use arrow::datatypes::{DataType, Field, TimeUnit};
use pgwire::api::Type;

use super::values::{list_element, nested};

/// The Postgres type a result field is sent as: its metadata's type where the planner
/// names one (`oid` columns of pg_catalog), else the mapping of its Arrow type.
pub(crate) fn field_type(field: &Field) -> Type {
    match field
        .metadata()
        .get(lakegate_planner::PG_TYPE_METADATA)
        .map(String::as_str)
    {
        Some("oid") if field.data_type() == &DataType::UInt32 => Type::OID,
        _ => pg_type(field.data_type()),
    }
}

/// The Postgres type a column of this Arrow type is sent as.
pub(crate) fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Null => Type::TEXT,
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::TEXT,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Type::BYTEA,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL,
        DataType::Struct(_) | DataType::Map(..) => Type::JSON,
        DataType::Dictionary(_, value) => pg_type(value),
        DataType::RunEndEncoded(_, values) => pg_type(values.data_type()),
        other => match list_element(other) {
            Some(element) if !nested(element.data_type()) => {
                array_of(&pg_type(element.data_type()))
            }
            Some(_) => Type::JSON,
            None => Type::TEXT,
        },
    }
}

/// The array type whose elements are `element`.
fn array_of(element: &Type) -> Type {
    match *element {
        Type::BOOL => Type::BOOL_ARRAY,
        Type::INT2 => Type::INT2_ARRAY,
        Type::INT4 => Type::INT4_ARRAY,
        Type::INT8 => Type::INT8_ARRAY,
        Type::FLOAT4 => Type::FLOAT4_ARRAY,
        Type::FLOAT8 => Type::FLOAT8_ARRAY,
        Type::NUMERIC => Type::NUMERIC_ARRAY,
        Type::BYTEA => Type::BYTEA_ARRAY,
        Type::DATE => Type::DATE_ARRAY,
        Type::TIME => Type::TIME_ARRAY,
        Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
        Type::INTERVAL => Type::INTERVAL_ARRAY,
        Type::JSON => Type::JSON_ARRAY,
        _ => Type::TEXT_ARRAY,
    }
}

/// `pg_attribute.atttypmod` for a column: precision and scale of numerics, fractional
/// digits of times and timestamps, -1 where the type has no modifier.
pub(crate) fn type_modifier(data_type: &DataType) -> i32 {
    let numeric = |p: i32, s: i32| ((p << 16) | s) + 4;
    match data_type {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => {
            let (p, s) = (i32::from(*p), i32::from(*s));
            if s >= 0 {
                numeric(p, s)
            } else {
                numeric(p - s, 0)
            }
        }
        DataType::UInt64 => numeric(20, 0),
        DataType::Timestamp(unit, _) | DataType::Time32(unit) | DataType::Time64(unit) => {
            match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond | TimeUnit::Nanosecond => -1,
            }
        }
        DataType::Dictionary(_, value) => type_modifier(value),
        _ => -1,
    }
}

/// `pg_type.typlen` of the Postgres type.
pub(crate) fn type_size(ty: &Type) -> i16 {
    match *ty {
        Type::BOOL => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE | Type::OID => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::TIME => 8,
        Type::INTERVAL => 16,
        _ => -1,
    }
}

/// The Arrow type a parameter of this Postgres type binds as.
pub(crate) fn arrow_type(ty: &Type) -> Option<DataType> {
    Some(match *ty {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DataType::Utf8,
        Type::BYTEA => DataType::Binary,
        Type::DATE => DataType::Date32,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        _ => return None,
    })
}

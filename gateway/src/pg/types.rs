//! Arrow types ↔ Postgres types.

use arrow::datatypes::{DataType, Field, TimeUnit};
use pgwire::api::Type;

use lakegate_pg_compat::catalog::type_map;

/// The Postgres type a result field is sent as: its metadata's type where the planner
/// names one (`oid` columns of pg_catalog), else the mapping of its Arrow type. The
/// mapping itself is the planner's, so that pg_attribute and RowDescription agree.
pub(crate) fn field_type(field: &Field) -> Type {
    Type::from_oid(type_map::field_type_oid(field)).unwrap_or(Type::TEXT)
}

/// The Postgres type a column of this Arrow type is sent as.
pub(crate) fn pg_type(data_type: &DataType) -> Type {
    Type::from_oid(type_map::arrow_type_oid(data_type)).unwrap_or(Type::TEXT)
}

/// `pg_attribute.atttypmod` for a column.
pub(crate) fn type_modifier(data_type: &DataType) -> i32 {
    type_map::type_modifier(data_type)
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

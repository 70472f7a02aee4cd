//! The one mapping from Arrow types to the PostgreSQL types the gateway sends them as:
//! OIDs for RowDescription and pg_attribute, and type modifiers.

use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};

use super::oids::PG_TYPE_METADATA;

/// PostgreSQL type OIDs the gateway uses.
pub mod oids {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const REGPROC: u32 = 24;
    pub const REGTYPE: u32 = 2206;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC: u32 = 1700;
}

/// The OID of the type a column is sent as (its field metadata may name `oid`).
pub fn field_type_oid(field: &Field) -> u32 {
    match field.metadata().get(PG_TYPE_METADATA).map(String::as_str) {
        Some("oid") if field.data_type() == &DataType::UInt32 => oids::OID,
        Some("regproc") if field.data_type() == &DataType::UInt32 => oids::REGPROC,
        Some("regtype") if field.data_type() == &DataType::UInt32 => oids::REGTYPE,
        _ => arrow_type_oid(field.data_type()),
    }
}

/// The OID of the PostgreSQL type an Arrow type is sent as.
pub fn arrow_type_oid(data_type: &DataType) -> u32 {
    use oids::*;
    match data_type {
        DataType::Null => TEXT,
        DataType::Boolean => BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => INT2,
        DataType::Int32 | DataType::UInt16 => INT4,
        DataType::Int64 | DataType::UInt32 => INT8,
        DataType::UInt64 => NUMERIC,
        DataType::Float16 | DataType::Float32 => FLOAT4,
        DataType::Float64 => FLOAT8,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => NUMERIC,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => TEXT,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => BYTEA,
        DataType::Date32 | DataType::Date64 => DATE,
        DataType::Timestamp(_, None) => TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => TIMESTAMPTZ,
        DataType::Time32(_) | DataType::Time64(_) => TIME,
        DataType::Interval(_) | DataType::Duration(_) => INTERVAL,
        DataType::Struct(_) | DataType::Map(..) => JSON,
        DataType::Dictionary(_, value) => arrow_type_oid(value),
        DataType::RunEndEncoded(_, values) => arrow_type_oid(values.data_type()),
        other => match list_element(other) {
            Some(element) if list_element(element.data_type()).is_none() && !nested(element) => {
                array_of(arrow_type_oid(element.data_type()))
            }
            Some(_) => JSON,
            None => TEXT,
        },
    }
}

fn nested(field: &Field) -> bool {
    matches!(field.data_type(), DataType::Struct(_) | DataType::Map(..))
}

/// The element of a list type.
pub fn list_element(data_type: &DataType) -> Option<&Field> {
    match data_type {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => Some(f.as_ref()),
        _ => None,
    }
}

/// The array type whose elements have type `element`.
pub fn array_of(element: u32) -> u32 {
    use oids::*;
    match element {
        BOOL => 1000,
        INT2 => 1005,
        INT4 => 1007,
        INT8 => 1016,
        FLOAT4 => 1021,
        FLOAT8 => 1022,
        NUMERIC => 1231,
        BYTEA => 1001,
        DATE => 1182,
        TIME => 1183,
        TIMESTAMP => 1115,
        TIMESTAMPTZ => 1185,
        INTERVAL => 1187,
        JSON => 199,
        _ => 1009,
    }
}

/// `atttypmod` of a column: precision and scale of numerics, fractional digits of
/// times and timestamps, -1 where the type has no modifier.
pub fn type_modifier(data_type: &DataType) -> i32 {
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

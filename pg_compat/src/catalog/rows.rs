//! A small builder for pg_catalog tables: declare the columns once, push rows of values.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float32Builder, Int16Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, UInt32Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result};

use super::oids::oid_field;

/// A column's PostgreSQL-facing type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Col {
    /// `oid` (UInt32, sent as oid).
    Oid,
    /// text / name / char.
    Text,
    /// boolean.
    Bool,
    /// int2.
    I16,
    /// int4.
    I32,
    /// int8.
    I64,
    /// float4.
    F32,
    /// text[] (ACLs and other arrays; always NULL or empty here).
    TextArray,
    /// oid[].
    OidArray,
    /// int2vector / int2[] (index keys; always NULL here).
    I16Array,
}

/// One value; `Null` fits any column.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum V {
    Oid(u32),
    Text(String),
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    Null,
}

impl From<&str> for V {
    fn from(value: &str) -> Self {
        V::Text(value.to_string())
    }
}

impl From<String> for V {
    fn from(value: String) -> Self {
        V::Text(value)
    }
}

impl From<bool> for V {
    fn from(value: bool) -> Self {
        V::Bool(value)
    }
}

/// The Arrow schema of a column list.
pub(super) fn schema(columns: &[(&str, Col)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, col)| match col {
                Col::Oid => oid_field(name),
                Col::Text => Field::new(*name, DataType::Utf8, true),
                Col::Bool => Field::new(*name, DataType::Boolean, true),
                Col::I16 => Field::new(*name, DataType::Int16, true),
                Col::I32 => Field::new(*name, DataType::Int32, true),
                Col::I64 => Field::new(*name, DataType::Int64, true),
                Col::F32 => Field::new(*name, DataType::Float32, true),
                Col::TextArray => Field::new(
                    *name,
                    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                    true,
                ),
                Col::OidArray => Field::new(
                    *name,
                    DataType::List(Arc::new(Field::new_list_field(DataType::UInt32, true))),
                    true,
                ),
                Col::I16Array => Field::new(
                    *name,
                    DataType::List(Arc::new(Field::new_list_field(DataType::Int16, true))),
                    true,
                ),
            })
            .collect::<Vec<_>>(),
    ))
}

/// A batch of `rows`, each with one value per column, in column order.
pub(super) fn table(columns: &[(&str, Col)], rows: &[Vec<V>]) -> Result<RecordBatch> {
    let mismatch = |name: &str, value: &V| {
        DataFusionError::Internal(format!("pg_catalog column {name}: unexpected {value:?}"))
    };
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (i, (name, col)) in columns.iter().enumerate() {
        let values = rows.iter().map(|row| row.get(i).unwrap_or(&V::Null));
        let array: ArrayRef = match col {
            Col::Oid => {
                let mut b = UInt32Builder::with_capacity(rows.len());
                for v in values {
                    match v {
                        V::Oid(x) => b.append_value(*x),
                        V::Null => b.append_value(0),
                        other => return Err(mismatch(name, other)),
                    }
                }
                Arc::new(b.finish())
            }
            Col::Text => {
                let mut b = StringBuilder::new();
                for v in values {
                    match v {
                        V::Text(x) => b.append_value(x),
                        V::Null => b.append_null(),
                        other => return Err(mismatch(name, other)),
                    }
                }
                Arc::new(b.finish())
            }
            Col::Bool => {
                let mut b = BooleanBuilder::with_capacity(rows.len());
                for v in values {
                    match v {
                        V::Bool(x) => b.append_value(*x),
                        V::Null => b.append_null(),
                        other => return Err(mismatch(name, other)),
                    }
                }
                Arc::new(b.finish())
            }
            Col::I16 => {
                let mut b = Int16Builder::with_capacity(rows.len());
                for v in values {
                    match v {
                        V::I16(x) => b.append_value(*x),
                        V::Null => b.append_null(),
                        other => return Err(mismatch(name, other)),
                    }
                }
                Arc::new(b.finish())
            }
            Col::I32 => {
                let mut b = Int32Builder::with_capacity(rows.len());
                for v in values {
                    match v {
                        V::I32(x) => b.append_value(*x),
                        V::Null => b.append_null(),
                        other => return Err(mismatch(name, other)),
                    }
                }
                Arc::new(b.finish())
            }
            Col::I64 => {
                let mut b = Int64Builder::with_capacity(rows.len());
                for v in values {
                    match v {
                        V::I64(x) => b.append_value(*x),
                        V::Null => b.append_null(),
                        other => return Err(mismatch(name, other)),
                    }
                }
                Arc::new(b.finish())
            }
            Col::TextArray | Col::OidArray | Col::I16Array => {
                let element = match col {
                    Col::TextArray => DataType::Utf8,
                    Col::I16Array => DataType::Int16,
                    _ => DataType::UInt32,
                };
                for v in values {
                    if *v != V::Null {
                        return Err(mismatch(name, v));
                    }
                }
                datafusion::arrow::array::new_null_array(
                    &DataType::List(Arc::new(Field::new_list_field(element, true))),
                    rows.len(),
                )
            }
            Col::F32 => {
                let mut b = Float32Builder::with_capacity(rows.len());
                for v in values {
                    match v {
                        V::F32(x) => b.append_value(*x),
                        V::Null => b.append_null(),
                        other => return Err(mismatch(name, other)),
                    }
                }
                Arc::new(b.finish())
            }
        };
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(schema(columns), arrays)?)
}

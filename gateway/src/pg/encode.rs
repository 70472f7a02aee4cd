//! Result field descriptions and single fields, text or binary per column: what
//! the frame encoder builds rows from, and the text of values for comparisons.

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use bytes::{BufMut, BytesMut};
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;

use super::types::{field_type, type_modifier, type_size};
use super::values::Column;

/// Field descriptions for a result schema, with the client's per-column formats.
pub(crate) fn fields(schema: &Schema, format: impl Fn(usize) -> FieldFormat) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let ty = field_type(field);
            let size = type_size(&ty);
            FieldInfo::new(field.name().clone(), None, None, ty, format(i))
                .with_type_size(size)
                .with_type_modifier(type_modifier(field.data_type()))
        })
        .collect()
}

/// A length-prefixed field (-1 for NULL), as DataRow and binary COPY carry them.
pub(crate) fn write_field(
    column: &Column,
    row: usize,
    text: bool,
    out: &mut BytesMut,
) -> PgWireResult<()> {
    if column.is_null(row) {
        out.put_i32(-1);
        return Ok(());
    }
    let at = out.len();
    out.put_i32(0);
    if text {
        column.write_text(row, out)?;
    } else {
        column.write_binary(row, out)?;
    }
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// The text Postgres wire sends for every value of a batch (`None` for NULL), by the
/// same encoders as DataRow: a Flight SQL result can be compared with a Postgres wire
/// one value by value.
pub fn text_values(batch: &RecordBatch) -> PgWireResult<Vec<Vec<Option<String>>>> {
    let columns = batch
        .columns()
        .iter()
        .zip(batch.schema().fields())
        .map(|(array, field)| Column::new_as(array, &field_type(field)))
        .collect::<PgWireResult<Vec<_>>>()?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    let mut buffer = BytesMut::new();
    for row in 0..batch.num_rows() {
        let mut values = Vec::with_capacity(columns.len());
        for column in &columns {
            if column.is_null(row) {
                values.push(None);
                continue;
            }
            buffer.clear();
            column.write_text(row, &mut buffer)?;
            values.push(Some(String::from_utf8_lossy(&buffer).into_owned()));
        }
        rows.push(values);
    }
    Ok(rows)
}

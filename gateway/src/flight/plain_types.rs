//! Results over Flight SQL in the Arrow types every client reads: string and binary
//! views (which the engine uses inside, and reads Parquet strings into) are announced and
//! sent as plain `Utf8` and `Binary`. Flight SQL clients older than Arrow's view types
//! (JDBC drivers, older ADBC and pyarrow) cannot decode views, and a view array sliced
//! by a LIMIT still points into the whole buffers it was cut from, which IPC would send
//! in full: the cast copies only the values sent.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;

fn plain(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Utf8View => Some(DataType::Utf8),
        DataType::BinaryView => Some(DataType::Binary),
        _ => None,
    }
}

/// `schema` with its top-level views as plain strings and binaries.
pub(crate) fn plain_schema(schema: &SchemaRef) -> SchemaRef {
    if !schema
        .fields()
        .iter()
        .any(|f| plain(f.data_type()).is_some())
    {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match plain(f.data_type()) {
            Some(data_type) => f.as_ref().clone().with_data_type(data_type),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` under `schema` (its [`plain_schema`]), views cast.
pub(crate) fn plain_batch(
    batch: RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    if Arc::ptr_eq(&batch.schema(), schema) {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(
            |(column, field)| match column.data_type() == field.data_type() {
                true => Ok(column.clone()),
                false => cast(column, field.data_type()),
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, StringViewArray};

    #[test]
    fn views_become_plain_and_a_slice_sends_only_its_values() {
        let long = "x".repeat(100);
        let views: StringViewArray = (0..1000).map(|i| Some(format!("{long}{i}"))).collect();
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8View, true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(views)])
            .expect("batch")
            .slice(10, 2);
        let plain = plain_schema(&schema);
        assert_eq!(plain.field(0).data_type(), &DataType::Utf8);
        let sent = plain_batch(batch, &plain).expect("cast");
        let strings = sent
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::StringArray>();
        let strings = strings.expect("plain strings");
        assert_eq!(strings.value(1), format!("{long}11"));
        assert!(strings.get_buffer_memory_size() < 4096);
    }
}

//! Result rows as complete Postgres wire messages: each Arrow batch becomes one buffer
//! of DataRow (or CopyData) frames, header included, so that the connection writes it
//! to the socket as it is. Large batches are encoded on a blocking thread, one batch
//! ahead of the one being sent, so encoding and sending overlap on two cores.

use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::{Buf, BufMut, BytesMut};
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use lakegate_planner::{CopyFormat, CopyOptions, ErrorKind, QueryError};
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;

use super::copy_values::{write_csv_value, write_text_value};
use super::encode::write_field;
use super::errors::{to_pgwire, user_error};
use super::values::Column;

/// Batches of at least this many rows are encoded off the connection's task; smaller
/// ones (point lookups, dashboard tiles) are encoded in place, where a thread hop
/// would cost more than it saves.
const ENCODE_APART_ROWS: usize = 1024;

/// Encoded batches held ahead of the one being sent.
const ENCODE_AHEAD: usize = 2;

/// The DataRow message type byte.
const DATA_ROW: u8 = b'D';
/// The CopyData message type byte.
const COPY_DATA: u8 = b'd';

/// How rows are framed.
pub(crate) enum RowFormat {
    /// DataRow messages, each column in text (`true`) or binary.
    Data { text: Vec<bool> },
    /// CopyData messages, one per row, in the COPY's format.
    Copy(CopyOptions),
}

/// What every batch of one result is encoded with: the PostgreSQL type each column is
/// sent as, and the framing.
pub(crate) struct FrameEncoder {
    types: Vec<Type>,
    format: RowFormat,
}

/// One batch's frames and the number of rows they hold.
pub(crate) struct Frames {
    pub(crate) bytes: BytesMut,
    pub(crate) rows: usize,
}

impl FrameEncoder {
    pub(crate) fn new(types: Vec<Type>, format: RowFormat) -> Self {
        Self { types, format }
    }

    /// DataRow frames of a result described by `fields`, each column in its field's
    /// type and format.
    pub(crate) fn for_fields(fields: &[FieldInfo]) -> Self {
        Self::new(
            fields.iter().map(|f| f.datatype().clone()).collect(),
            RowFormat::Data {
                text: fields
                    .iter()
                    .map(|f| f.format() == FieldFormat::Text)
                    .collect(),
            },
        )
    }

    /// The frames of every row of `batch`.
    pub(crate) fn encode(&self, batch: &RecordBatch) -> PgWireResult<Frames> {
        // The column writers are chosen once per batch, not once per value.
        let columns = batch
            .columns()
            .iter()
            .zip(&self.types)
            .map(|(array, ty)| Column::new_as(array, ty))
            .collect::<PgWireResult<Vec<_>>>()?;
        let rows = batch.num_rows();
        let mut out = BytesMut::with_capacity(estimated_size(batch));
        match &self.format {
            RowFormat::Data { text } => {
                let count = columns.len() as i16;
                for row in 0..rows {
                    let at = begin(&mut out, DATA_ROW);
                    out.put_i16(count);
                    for (column, text) in columns.iter().zip(text) {
                        write_field(column, row, *text, &mut out)?;
                    }
                    end(&mut out, at)?;
                }
            }
            RowFormat::Copy(options) => {
                let mut scratch = BytesMut::new();
                for row in 0..rows {
                    let at = begin(&mut out, COPY_DATA);
                    copy_row(&columns, row, options, &mut scratch, &mut out)?;
                    end(&mut out, at)?;
                }
            }
        }
        Ok(Frames { bytes: out, rows })
    }
}

/// One COPY row in the options' format (without the binary header, which the caller
/// sends with the first row).
fn copy_row(
    columns: &[Column],
    row: usize,
    options: &CopyOptions,
    scratch: &mut BytesMut,
    out: &mut BytesMut,
) -> PgWireResult<()> {
    match options.format {
        CopyFormat::Binary => {
            out.put_i16(columns.len() as i16);
            for column in columns {
                write_field(column, row, false, out)?;
            }
        }
        CopyFormat::Text => {
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    out.put_u8(options.delimiter);
                }
                write_text_value(column, row, options, scratch, out)?;
            }
            out.put_u8(b'\n');
        }
        CopyFormat::Csv => {
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    out.put_u8(options.delimiter);
                }
                let force = options.force_quote.get(i).copied().unwrap_or(false);
                write_csv_value(column, row, options, force, scratch, out)?;
            }
            out.put_u8(b'\n');
        }
    }
    Ok(())
}

/// A guess at a batch's encoded size, so that the buffer rarely grows.
fn estimated_size(batch: &RecordBatch) -> usize {
    let bytes: usize = batch
        .columns()
        .iter()
        .map(|c| c.get_buffer_memory_size())
        .sum();
    (bytes + batch.num_rows() * (8 + 4 * batch.num_columns())).min(64 << 20)
}

/// Starts a message: its type byte and a length filled in by [`end`].
fn begin(out: &mut BytesMut, message_type: u8) -> usize {
    let at = out.len();
    out.put_u8(message_type);
    out.put_i32(0);
    at
}

/// Fills in the length of the message begun at `at`.
fn end(out: &mut BytesMut, at: usize) -> PgWireResult<()> {
    let len = out.len() - at - 1;
    let len = i32::try_from(len).map_err(|_| {
        user_error(
            ErrorKind::ResourceExhausted,
            format!("a row of {len} bytes is larger than a protocol message can be"),
        )
    })?;
    out[at + 1..at + 5].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// The result's batches as frames, in order, encoded up to [`ENCODE_AHEAD`] batches
/// ahead of the consumer.
pub(crate) fn framed(
    stream: SendableRecordBatchStream,
    encoder: Arc<FrameEncoder>,
) -> impl Stream<Item = PgWireResult<Frames>> + Send {
    stream
        .map(move |batch| {
            let encoder = encoder.clone();
            async move {
                let batch = batch.map_err(|e| to_pgwire(QueryError::from(e)))?;
                if batch.num_rows() < ENCODE_APART_ROWS {
                    return encoder.encode(&batch);
                }
                tokio::task::spawn_blocking(move || encoder.encode(&batch))
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "encoding a result batch failed");
                        user_error(ErrorKind::Internal, "encoding the result failed")
                    })?
            }
        })
        .buffered(ENCODE_AHEAD)
}

/// Splits DataRow frames back into pgwire's messages, without copying, for the paths
/// pgwire sends itself (portals fetched a few rows at a time).
pub(crate) fn data_rows(mut frames: BytesMut) -> impl Iterator<Item = PgWireResult<DataRow>> {
    std::iter::from_fn(move || {
        if frames.is_empty() {
            return None;
        }
        let len = i32::from_be_bytes([frames[1], frames[2], frames[3], frames[4]]) as usize;
        let mut frame = frames.split_to(1 + len);
        frame.advance(5);
        let count = frame.get_i16();
        Some(Ok(DataRow::new(frame, count)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(7), None, Some(-12)])),
            Arc::new(StringArray::from(vec![Some("a\tb"), Some("x"), None])),
        ];
        RecordBatch::try_new(schema, columns).expect("batch")
    }

    #[test]
    fn data_rows_are_framed_and_split_back() {
        let encoder = FrameEncoder::new(
            vec![Type::INT8, Type::TEXT],
            RowFormat::Data {
                text: vec![true, false],
            },
        );
        let frames = encoder.encode(&batch()).expect("encode");
        assert_eq!(frames.rows, 3);
        // D, length 4 + 2 + (4 + 1) + (4 + 3) = 18, 2 fields.
        assert_eq!(&frames.bytes[..7], b"D\0\0\0\x12\0\x02");
        let rows: Vec<DataRow> = data_rows(frames.bytes)
            .collect::<PgWireResult<_>>()
            .expect("rows");
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[0].data[..], b"\0\0\0\x017\0\0\0\x03a\tb");
        assert_eq!(&rows[1].data[..], b"\xff\xff\xff\xff\0\0\0\x01x");
        assert_eq!(&rows[2].data[..], b"\0\0\0\x03-12\xff\xff\xff\xff");
        assert!(rows.iter().all(|r| r.field_count == 2));
    }

    #[test]
    fn copy_text_rows_are_one_message_each() {
        let options = CopyOptions {
            format: CopyFormat::Text,
            delimiter: b'\t',
            null: "\\N".into(),
            header: false,
            quote: b'"',
            escape: b'"',
            force_quote: Vec::new(),
        };
        let encoder = FrameEncoder::new(vec![Type::INT8, Type::TEXT], RowFormat::Copy(options));
        let frames = encoder.encode(&batch()).expect("encode");
        let expected: &[u8] = b"d\0\0\0\x0b7\ta\\tb\nd\0\0\0\x09\\N\tx\nd\0\0\0\x0b-12\t\\N\n";
        assert_eq!(&frames.bytes[..], expected);
    }
}

//! COPY … TO STDOUT: Arrow batches → CopyData messages in text, CSV or binary format.
//!
//! Like PostgreSQL, each row is one CopyData message (clients such as psycopg parse
//! rows per message), the binary header travels with the first row, and the command
//! tag counts rows, not messages.

use std::fmt::Debug;

use bytes::{BufMut, BytesMut};
use datafusion::execution::SendableRecordBatchStream;
use futures::{Sink, SinkExt, StreamExt};
use lakegate_planner::{CopyFormat, CopyOptions, QueryError};
use pgwire::api::results::Tag;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};

use super::encode::write_field;
use super::errors::to_pgwire;
use super::types::field_type;
use super::values::Column;

/// The signature, flags and header-extension length that open binary COPY data.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Streams a COPY TO STDOUT: CopyOutResponse, one CopyData per row, CopyDone and
/// CommandComplete. Returns the number of rows sent.
pub(crate) async fn send_copy_out<C>(
    client: &mut C,
    mut stream: SendableRecordBatchStream,
    options: &CopyOptions,
) -> PgWireResult<usize>
where
    C: Sink<PgWireBackendMessage> + Unpin,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let schema = stream.schema();
    let columns = schema.fields().len();
    let binary = options.format == CopyFormat::Binary;
    let format = i16::from(binary);
    client
        .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            format as i8,
            columns as i16,
            vec![format; columns],
        )))
        .await?;
    let mut out = BytesMut::with_capacity(256);
    if options.header {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        write_header(&names, options, &mut out);
        client.feed(copy_data(&mut out)).await?;
    }
    if binary {
        out.put_slice(BINARY_HEADER);
    }
    let mut rows = 0usize;
    let mut scratch = BytesMut::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| to_pgwire(QueryError::from(e)))?;
        let encoders = batch
            .columns()
            .iter()
            .zip(schema.fields().iter())
            .map(|(array, field)| Column::new_as(array, &field_type(field)))
            .collect::<PgWireResult<Vec<_>>>()?;
        for row in 0..batch.num_rows() {
            match options.format {
                CopyFormat::Binary => {
                    out.put_i16(columns as i16);
                    for column in &encoders {
                        write_field(column, row, false, &mut out)?;
                    }
                }
                CopyFormat::Text => {
                    for (i, column) in encoders.iter().enumerate() {
                        if i > 0 {
                            out.put_u8(options.delimiter);
                        }
                        write_text_value(column, row, options, &mut scratch, &mut out)?;
                    }
                    out.put_u8(b'\n');
                }
                CopyFormat::Csv => {
                    for (i, column) in encoders.iter().enumerate() {
                        if i > 0 {
                            out.put_u8(options.delimiter);
                        }
                        write_csv_value(
                            column,
                            row,
                            options,
                            options.force_quote.get(i).copied().unwrap_or(false),
                            &mut scratch,
                            &mut out,
                        )?;
                    }
                    out.put_u8(b'\n');
                }
            }
            client.feed(copy_data(&mut out)).await?;
            rows += 1;
        }
    }
    if binary {
        out.put_i16(-1);
        client.feed(copy_data(&mut out)).await?;
    }
    client
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    client
        .feed(PgWireBackendMessage::CommandComplete(
            Tag::new("COPY").with_rows(rows).into(),
        ))
        .await?;
    Ok(rows)
}

fn copy_data(out: &mut BytesMut) -> PgWireBackendMessage {
    PgWireBackendMessage::CopyData(CopyData::new(out.split().freeze()))
}

fn write_header(names: &[&str], options: &CopyOptions, out: &mut BytesMut) {
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.put_u8(options.delimiter);
        }
        match options.format {
            CopyFormat::Csv => write_csv_text(name.as_bytes(), options, false, out),
            _ => escape_text(name.as_bytes(), options.delimiter, out),
        }
    }
    out.put_u8(b'\n');
}

/// A value in text format: NULL as the null string, specials backslash-escaped.
fn write_text_value(
    column: &Column,
    row: usize,
    options: &CopyOptions,
    scratch: &mut BytesMut,
    out: &mut BytesMut,
) -> PgWireResult<()> {
    if column.is_null(row) {
        out.put_slice(options.null.as_bytes());
    } else if column.needs_escaping() {
        scratch.clear();
        column.write_text(row, scratch)?;
        escape_text(scratch, options.delimiter, out);
    } else {
        column.write_text(row, out)?;
    }
    Ok(())
}

fn escape_text(value: &[u8], delimiter: u8, out: &mut BytesMut) {
    for &b in value {
        match b {
            b'\\' => out.put_slice(b"\\\\"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' => out.put_slice(b"\\t"),
            0x08 => out.put_slice(b"\\b"),
            0x0c => out.put_slice(b"\\f"),
            0x0b => out.put_slice(b"\\v"),
            b if b == delimiter => {
                out.put_u8(b'\\');
                out.put_u8(b);
            }
            b => out.put_u8(b),
        }
    }
}

/// A value in CSV: NULL as the (unquoted) null string, others quoted when needed.
fn write_csv_value(
    column: &Column,
    row: usize,
    options: &CopyOptions,
    force_quote: bool,
    scratch: &mut BytesMut,
    out: &mut BytesMut,
) -> PgWireResult<()> {
    if column.is_null(row) {
        out.put_slice(options.null.as_bytes());
        return Ok(());
    }
    scratch.clear();
    column.write_text(row, scratch)?;
    write_csv_text(scratch, options, force_quote, out);
    Ok(())
}

fn write_csv_text(value: &[u8], options: &CopyOptions, force_quote: bool, out: &mut BytesMut) {
    let quote = options.quote;
    let escape = options.escape;
    let needs_quotes = force_quote
        // A value equal to the null string must be told apart from NULL.
        || value == options.null.as_bytes()
        // `\.` alone on a line ends COPY data for old clients.
        || value == b"\\."
        || value
            .iter()
            .any(|&b| b == options.delimiter || b == quote || b == b'\n' || b == b'\r');
    if !needs_quotes {
        out.put_slice(value);
        return;
    }
    out.put_u8(quote);
    for &b in value {
        if b == quote || b == escape {
            out.put_u8(escape);
        }
        out.put_u8(b);
    }
    out.put_u8(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(format: CopyFormat) -> CopyOptions {
        CopyOptions {
            format,
            delimiter: if format == CopyFormat::Csv {
                b','
            } else {
                b'\t'
            },
            null: if format == CopyFormat::Csv {
                String::new()
            } else {
                "\\N".into()
            },
            header: false,
            quote: b'"',
            escape: b'"',
            force_quote: Vec::new(),
        }
    }

    #[test]
    fn text_escapes_specials() {
        let mut out = BytesMut::new();
        escape_text(b"a\tb\\c\nd", b'\t', &mut out);
        assert_eq!(&out[..], b"a\\tb\\\\c\\nd");
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let csv = options(CopyFormat::Csv);
        let quoted = |v: &[u8], force: bool| {
            let mut out = BytesMut::new();
            write_csv_text(v, &csv, force, &mut out);
            String::from_utf8(out.to_vec()).expect("test value")
        };
        assert_eq!(quoted(b"plain", false), "plain");
        assert_eq!(quoted(b"a,b", false), "\"a,b\"");
        assert_eq!(quoted(b"say \"hi\"", false), "\"say \"\"hi\"\"\"");
        assert_eq!(quoted(b"", false), "\"\"");
        assert_eq!(quoted(b"x", true), "\"x\"");
        assert_eq!(quoted(b"line\nbreak", false), "\"line\nbreak\"");
    }
}

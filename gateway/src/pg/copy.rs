//! COPY … TO STDOUT: Arrow batches → CopyData messages in text, CSV or binary format.
//!
//! Like PostgreSQL, each row is one CopyData message (clients such as psycopg parse
//! rows per message) and the command tag counts rows, not messages. The rows are
//! framed by [`super::frames`], as result rows are.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use datafusion::execution::SendableRecordBatchStream;
use futures::{SinkExt, StreamExt};
use lakegate_planner::{CopyFormat, CopyOptions};
use pgwire::api::results::Tag;
use pgwire::error::PgWireResult;
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};

use super::copy_values::{escape_text, write_csv_text};
use super::frames::{FrameEncoder, RowFormat, framed};
use super::outbound::{PgSocket, write_frames};
use super::types::field_type;

/// The signature, flags and header-extension length that open binary COPY data.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Streams a COPY TO STDOUT: CopyOutResponse, one CopyData per row, CopyDone and
/// CommandComplete. Returns the number of rows sent.
pub(crate) async fn send_copy_out(
    socket: &mut PgSocket,
    stream: SendableRecordBatchStream,
    options: &CopyOptions,
) -> PgWireResult<usize> {
    let schema = stream.schema();
    let columns = schema.fields().len();
    let binary = options.format == CopyFormat::Binary;
    let format = i16::from(binary);
    socket
        .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            format as i8,
            columns as i16,
            vec![format; columns],
        )))
        .await?;
    let mut out = BytesMut::with_capacity(256);
    if options.header {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        write_header(&names, options, &mut out);
        socket.feed(copy_data(&mut out)).await?;
    }
    // The binary signature travels with the first row, as PostgreSQL sends it (psycopg
    // expects it there), or with the trailer when there are no rows.
    let mut signature = binary.then_some(BINARY_HEADER);
    let encoder = Arc::new(FrameEncoder::new(
        schema.fields().iter().map(|f| field_type(f)).collect(),
        RowFormat::Copy(options.clone()),
    ));
    let frames = framed(stream, encoder);
    futures::pin_mut!(frames);
    let mut rows = 0usize;
    while let Some(batch) = frames.next().await {
        let mut batch = batch?;
        rows += batch.rows;
        if batch.rows > 0
            && let Some(signature) = signature.take()
        {
            let first = prefixed_first_frame(&mut batch.bytes, signature);
            write_frames(socket, first).await?;
        }
        write_frames(socket, batch.bytes).await?;
    }
    if binary {
        if let Some(signature) = signature {
            out.put_slice(signature);
        }
        out.put_i16(-1);
        socket.feed(copy_data(&mut out)).await?;
    }
    socket
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    socket
        .feed(PgWireBackendMessage::CommandComplete(
            Tag::new("COPY").with_rows(rows).into(),
        ))
        .await?;
    Ok(rows)
}

/// Takes the first CopyData frame off `frames` and returns it with `prefix` at the
/// start of its data.
fn prefixed_first_frame(frames: &mut BytesMut, prefix: &[u8]) -> BytesMut {
    let len = i32::from_be_bytes([frames[1], frames[2], frames[3], frames[4]]) as usize;
    let first = frames.split_to(1 + len);
    let mut out = BytesMut::with_capacity(first.len() + prefix.len());
    out.put_u8(first[0]);
    out.put_i32((len + prefix.len()) as i32);
    out.put_slice(prefix);
    out.put_slice(&first[5..]);
    out
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

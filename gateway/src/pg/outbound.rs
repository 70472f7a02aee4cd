//! The connection's socket as result paths write to it: pgwire's messages go through
//! its codec into the write buffer; prebuilt row frames are appended to that buffer
//! or, when large, written to the socket as they are, without a copy.

use std::sync::Arc;

use bytes::BytesMut;
use datafusion::execution::SendableRecordBatchStream;
use futures::{SinkExt, StreamExt};
use lakegate_planner::Prepared;
use pgwire::api::portal::Format;
use pgwire::api::results::Tag;
use pgwire::error::PgWireResult;
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::RowDescription;
use pgwire::tokio::server::{MaybeTls, PgWireMessageServerCodec};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Framed;

use super::encode::fields;
use super::frames::{FrameEncoder, framed};

/// A Postgres wire connection's socket, as our connection loop holds it.
pub(crate) type PgSocket = Framed<MaybeTls, PgWireMessageServerCodec<Arc<Prepared>>>;

/// Messages buffered before they are written to the socket.
pub(crate) const WRITE_BUFFER: usize = 128 * 1024;

/// Writes complete wire messages: small ones join the write buffer (and leave with the
/// response's other messages), large ones go to the socket directly after what is
/// buffered.
pub(crate) async fn write_frames(socket: &mut PgSocket, frames: BytesMut) -> PgWireResult<()> {
    if socket.write_buffer().len() + frames.len() <= WRITE_BUFFER {
        socket.write_buffer_mut().extend_from_slice(&frames);
        return Ok(());
    }
    SinkExt::<PgWireBackendMessage>::flush(socket).await?;
    socket.get_mut().write_all(&frames).await?;
    Ok(())
}

/// Sends a result's rows (after its RowDescription when `describe`) and its
/// CommandComplete, each batch encoded into DataRow frames while the one before it is
/// being written.
pub(crate) async fn send_rows(
    socket: &mut PgSocket,
    stream: SendableRecordBatchStream,
    tag: &str,
    format: &Format,
    describe: bool,
) -> PgWireResult<()> {
    let schema = stream.schema();
    let fields = fields(&schema, |i| format.format_for(i));
    if describe {
        let description = RowDescription::new(fields.iter().map(Into::into).collect());
        socket
            .feed(PgWireBackendMessage::RowDescription(description))
            .await?;
    }
    let encoder = Arc::new(FrameEncoder::for_fields(&fields));
    let frames = framed(stream, encoder);
    futures::pin_mut!(frames);
    let mut rows = 0;
    while let Some(batch) = frames.next().await {
        let batch = batch?;
        rows += batch.rows;
        write_frames(socket, batch.bytes).await?;
    }
    let complete = Tag::new(tag).with_rows(rows);
    socket
        .feed(PgWireBackendMessage::CommandComplete(complete.into()))
        .await?;
    Ok(())
}

//! Cancelling a running statement as libpq's `PQcancel` does: send the CancelRequest on
//! a connection of its own and wait until the server closes it, which it does once the
//! request is handled.
//!
//! tokio-postgres' `cancel_query` returns as soon as the request is written, so a
//! client that runs its next statement right away races the cancel: the server may
//! handle it after the next statement started and cancel that one instead.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::CancelToken;

/// Sends `token`'s CancelRequest to the server at `addr` and returns once the server
/// has handled it (closed the connection).
pub async fn cancel_and_wait(token: &CancelToken, addr: SocketAddr) -> std::io::Result<()> {
    // tokio-postgres writes the request (with its process id and secret key) into one
    // end of a pipe; it is sent from the other on a socket of our own.
    let (mut ours, theirs) = tokio::io::duplex(64);
    token
        .cancel_query_raw(theirs, tokio_postgres::NoTls)
        .await
        .map_err(std::io::Error::other)?;
    let mut request = Vec::new();
    ours.read_to_end(&mut request).await?;
    let mut socket = TcpStream::connect(addr).await?;
    socket.write_all(&request).await?;
    socket.flush().await?;
    // The server answers nothing and closes the connection once the request is handled.
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await?;
    Ok(())
}

//! Flight SQL connections counted in `lakegate_active_connections{protocol="flight-sql"}`:
//! each accepted TCP connection is wrapped so that the gauge goes down when tonic drops
//! it, however the connection ends.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lakegate_planner::Metrics;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

const PROTOCOL: &str = "flight-sql";

/// A client's TCP connection, counted while it is open.
pub(crate) struct CountedConnection {
    inner: TcpStream,
    metrics: Arc<Metrics>,
}

impl CountedConnection {
    pub(crate) fn new(inner: TcpStream, metrics: Arc<Metrics>) -> Self {
        metrics.connection(PROTOCOL, 1);
        Self { inner, metrics }
    }
}

impl Drop for CountedConnection {
    fn drop(&mut self) {
        self.metrics.connection(PROTOCOL, -1);
    }
}

impl Connected for CountedConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for CountedConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

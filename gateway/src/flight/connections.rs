//! Flight SQL connections counted in `lakegate_active_connections{protocol="flight-sql"}`
//! and held to `[flight] max_connections`: each accepted TCP connection is wrapped so
//! that the count goes down when tonic drops it, however the connection ends.
//!
//! A connection beyond the limit is not simply closed (the client would only see a
//! cancelled transport): it is served for [`REFUSED_GRACE`] so that its calls are
//! answered RESOURCE_EXHAUSTED with SQLSTATE 53300 (PostgreSQL's "sorry, too many
//! clients already"), then closed. At most `max_connections` such connections are kept
//! in that grace; beyond those, a connection is closed at accept.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use lakegate_planner::{ErrorKind, Metrics, QueryError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tonic::Status;
use tonic::transport::server::{Connected, TcpConnectInfo, TlsConnectInfo};

use super::status::to_status;

const PROTOCOL: &str = "flight-sql";

/// How long a connection beyond the limit is served refusals before it is closed.
pub(crate) const REFUSED_GRACE: Duration = Duration::from_secs(2);

/// The open connections and their limit.
#[derive(Debug)]
pub(crate) struct ConnectionLimit {
    open: AtomicUsize,
    max: usize,
    /// Peers of the connections beyond the limit, answered with refusals until closed.
    refused: Mutex<HashSet<SocketAddr>>,
    metrics: Arc<Metrics>,
}

impl ConnectionLimit {
    pub(crate) fn new(max: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            max,
            refused: Mutex::new(HashSet::new()),
            metrics,
        })
    }

    /// The connection, counted, or admitted only to be refused; `None` (and the socket
    /// closed) when even the refusals are at their limit.
    pub(crate) fn admit(self: &Arc<Self>, inner: TcpStream) -> Option<CountedConnection> {
        let before = self.open.fetch_add(1, Ordering::AcqRel);
        if before < self.max {
            self.metrics.connection(PROTOCOL, 1);
            return Some(CountedConnection {
                inner,
                limit: self.clone(),
                refused: None,
            });
        }
        self.open.fetch_sub(1, Ordering::AcqRel);
        let peer = inner.peer_addr().ok();
        tracing::warn!(
            ?peer,
            max_connections = self.max,
            "Flight SQL connection refused: [flight] max_connections reached"
        );
        let peer = peer?;
        {
            let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            if refused.len() >= self.max {
                return None;
            }
            refused.insert(peer);
        }
        Some(CountedConnection {
            inner,
            limit: self.clone(),
            refused: Some(Refused {
                peer,
                closes: Box::pin(tokio::time::sleep(REFUSED_GRACE)),
            }),
        })
    }

    /// The refusal for a call on a connection beyond the limit; `None` for an admitted
    /// connection. `extensions` are the call's (they carry the connection's address).
    pub(crate) fn refusal(&self, extensions: &http::Extensions) -> Option<Status> {
        let peer = extensions
            .get::<TcpConnectInfo>()
            .or_else(|| {
                extensions
                    .get::<TlsConnectInfo<TcpConnectInfo>>()
                    .map(TlsConnectInfo::get_ref)
            })?
            .remote_addr()?;
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        refused.contains(&peer).then(|| {
            to_status(QueryError::new(
                ErrorKind::TooManyConnections,
                format!(
                    "sorry, too many clients already: the Flight SQL listener serves {} \
                     connections ([flight] max_connections)",
                    self.max
                ),
            ))
        })
    }
}

/// A connection beyond the limit: its peer, and when it is closed.
struct Refused {
    peer: SocketAddr,
    closes: Pin<Box<Sleep>>,
}

/// A client's TCP connection, counted while it is open.
pub(crate) struct CountedConnection {
    inner: TcpStream,
    limit: Arc<ConnectionLimit>,
    refused: Option<Refused>,
}

impl Drop for CountedConnection {
    fn drop(&mut self) {
        match &self.refused {
            Some(refused) => {
                let mut peers = self.limit.refused.lock().unwrap_or_else(|p| p.into_inner());
                peers.remove(&refused.peer);
            }
            None => {
                self.limit.open.fetch_sub(1, Ordering::AcqRel);
                self.limit.metrics.connection(PROTOCOL, -1);
            }
        }
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
        // A refused connection reads end-of-file once its grace is over, and hyper
        // closes it.
        if let Some(refused) = self.refused.as_mut()
            && refused.closes.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Ok(()));
        }
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

//! Notices a client that is gone while its statement runs. The connection is not read
//! while a query computes or streams, so a client that disconnects before its first
//! row would otherwise be noticed only when the first row is written, seconds or
//! minutes later. Like PostgreSQL's `client_connection_check_interval`, the watch polls
//! the socket every interval: the peer's shutdown (`POLLRDHUP`), a hang-up or an error
//! means the client is gone, and the statement is dropped (its query cancelled, its
//! memory released).
//!
//! The watch holds a duplicate of the socket's descriptor, so that it can poll while
//! the statement holds the socket; polling consumes nothing. `POLLRDHUP` reports the
//! shutdown also when unread bytes come before it: messages a client pipelined, or the
//! close_notify alert a TLS client sends as it closes. Other systems than Linux peek
//! instead, and see such a client gone only at its next write.

use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use tokio::net::TcpStream;

/// The watch over one connection's socket.
pub(crate) struct PeerWatch {
    fd: Option<OwnedFd>,
    interval: Option<Duration>,
}

impl PeerWatch {
    /// A watch over `socket` that checks every `interval` (`None`: never).
    pub(crate) fn new(socket: &TcpStream, interval: Option<Duration>) -> Self {
        let fd = interval.and_then(|_| match socket.as_fd().try_clone_to_owned() {
            Ok(fd) => Some(fd),
            Err(error) => {
                tracing::warn!(%error, "cannot watch the connection for a vanished client");
                None
            }
        });
        Self { fd, interval }
    }

    /// Runs `statement`; `None` if the client went away first (the statement is dropped).
    pub(crate) async fn while_connected<T>(&self, statement: impl Future<Output = T>) -> Option<T> {
        let (Some(fd), Some(interval)) = (&self.fd, self.interval) else {
            return Some(statement.await);
        };
        tokio::select! {
            done = statement => Some(done),
            () = gone(fd, interval) => None,
        }
    }
}

/// Resolves once the peer has closed or reset the connection.
async fn gone(fd: &OwnedFd, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if !connected(fd) {
            return;
        }
    }
}

/// Whether the peer may still be there: it has not shut its side down, and the socket
/// has no error.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn connected(fd: &OwnedFd) -> bool {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: `poll` is one valid pollfd for a descriptor this watch owns, and a zero
    // timeout returns at once.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    // A failed poll (interrupted) says nothing: look again at the next tick.
    ready <= 0 || poll.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) == 0
}

/// Whether the peer may still be there: data waiting, or nothing yet (the descriptor is
/// non-blocking, as tokio set it, so an empty socket answers `WouldBlock`).
#[cfg(not(target_os = "linux"))]
fn connected(fd: &OwnedFd) -> bool {
    use socket2::SockRef;
    use std::io::ErrorKind;
    use std::mem::MaybeUninit;
    let mut byte = [MaybeUninit::<u8>::uninit(); 1];
    match SockRef::from(fd).peek(&mut byte) {
        Ok(0) => false,
        Ok(_) => true,
        Err(error) => matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A client socket and the server's end of it.
    async fn connected_pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (client, server)
    }

    #[tokio::test]
    async fn a_closed_peer_ends_the_statement_a_present_one_does_not() {
        let (mut client, server) = connected_pair().await;
        let watch = PeerWatch::new(&server, Some(Duration::from_millis(20)));
        // Present, with a message waiting: the statement finishes.
        client.write_all(b"x").await.expect("write");
        let done = watch
            .while_connected(tokio::time::sleep(Duration::from_millis(100)))
            .await;
        assert!(done.is_some());
        // Gone.
        let mut byte = [0u8; 1];
        server.try_read(&mut byte).expect("the byte");
        drop(client);
        let done = watch
            .while_connected(tokio::time::sleep(Duration::from_secs(30)))
            .await;
        assert!(done.is_none());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_peer_gone_behind_unread_bytes_is_noticed() {
        let (mut client, server) = connected_pair().await;
        let watch = PeerWatch::new(&server, Some(Duration::from_millis(20)));
        // A last message (or a TLS close_notify alert), then the close: the bytes are
        // never read while the statement runs.
        client.write_all(b"X\0\0\0\x04").await.expect("write");
        drop(client);
        let done = tokio::time::timeout(
            Duration::from_secs(5),
            watch.while_connected(tokio::time::sleep(Duration::from_secs(30))),
        )
        .await
        .expect("noticed within seconds");
        assert!(done.is_none());
    }
}

//! One Postgres wire connection, read and answered message by message: pgwire's
//! connection loop, owned here so that results reach the socket the fast way.
//!
//! pgwire's own loop writes to the socket whenever 8 KiB of messages are buffered; a
//! large result then costs a `write` system call every few dozen rows. Here the
//! buffer is flushed at [`WRITE_BUFFER`] (and at the end of every response, as
//! pgwire does), which takes a sixteenth of the calls. Query and Execute messages go
//! to our handler with the socket's concrete type, so that result rows are written
//! as prebuilt frames rather than one pgwire message at a time. Messages are read
//! through [`Inbound`], which hands pgwire's decoder only whole, checked frames.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::SinkExt;
use lakegate_planner::{ErrorKind, Prepared};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{
    ClientInfo, ErrorHandler, METADATA_USER, PgWireConnectionState, PgWireServerHandlers,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::simplequery::Query;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::admission::Place;
use super::inbound::{Inbound, MessageLimits, Received};
use super::outbound::{PgSocket, WRITE_BUFFER};
use super::peer_watch::PeerWatch;

/// The query handler as the loop uses it: pgwire's handlers for the socket's statement
/// type, and Query and Execute taken with the socket's concrete type, so that result
/// rows can be written to it as prebuilt frames.
pub(crate) trait DirectQueries:
    SimpleQueryHandler + ExtendedQueryHandler<Statement = Arc<Prepared>>
{
    /// A simple Query message.
    fn on_simple_query(
        &self,
        socket: &mut PgSocket,
        query: Query,
    ) -> impl Future<Output = PgWireResult<()>> + Send;

    /// An Execute message.
    fn on_execute_message(
        &self,
        socket: &mut PgSocket,
        message: Execute,
    ) -> impl Future<Output = PgWireResult<()>> + Send;
}

/// Serves one TCP connection until the client terminates it, a FATAL error ends it,
/// or the socket closes.
pub(crate) async fn serve_connection<H: PgWireServerHandlers, Q: DirectQueries>(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: H,
    query: Arc<Q>,
    limits: MessageLimits,
    mut place: Place,
) -> std::io::Result<()> {
    let admission = place.admission().clone();
    let startup_deadline = tokio::time::sleep(admission.authentication_timeout);
    tokio::pin!(startup_deadline);
    // pgwire's TLS negotiation waits for the first 8 bytes however long they take:
    // a client that stops short of them is closed once its bytes stall.
    let whole = tokio::select! {
        _ = &mut startup_deadline => return Ok(()),
        whole = first_packet_header(&socket, limits.stall_timeout) => whole?,
    };
    if !whole {
        return Ok(());
    }
    let watch = PeerWatch::new(&socket, admission.client_check);
    let negotiated = tokio::select! {
        _ = &mut startup_deadline => return Ok(()),
        negotiated = negotiate_tls(socket, tls) => negotiated?,
    };
    // A client that began TLS directly when no certificate is configured.
    let Some(mut socket): Option<PgSocket> = negotiated else {
        return Ok(());
    };
    socket.set_backpressure_boundary(WRITE_BUFFER);
    let startup = handlers.startup_handler();
    // The query handler itself: its statement type is the one the socket's codec holds.
    let simple = query.clone();
    let extended = query.clone();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();
    let mut inbound = Inbound::new(limits);
    loop {
        let starting = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let received = match (starting, admission.idle_timeout) {
            (true, _) => tokio::select! {
                _ = &mut startup_deadline => return Ok(()),
                received = inbound.next(&mut socket) => received?,
            },
            (false, Some(idle)) => {
                match tokio::time::timeout(idle, inbound.next(&mut socket)).await {
                    Ok(received) => received?,
                    Err(_) => {
                        let error = super::errors::fatal(
                            ErrorKind::IdleSessionTimeout,
                            "terminating connection due to idle-session timeout",
                        );
                        return close_with(&mut socket, error).await;
                    }
                }
            }
            (false, None) => inbound.next(&mut socket).await?,
        };
        let message = match received {
            Received::Message(message) => message,
            Received::Closed => break,
            Received::Violation(reason) => {
                let peer = socket.socket_addr();
                tracing::info!(%peer, %reason, "protocol violation; closing the connection");
                let error = super::errors::fatal(ErrorKind::ProtocolViolation, reason);
                return close_with(&mut socket, error).await;
            }
        };
        // Terminate ends the connection (some clients wait for the socket to close).
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        // Room for the connection, the user and the login, before authentication.
        if let PgWireFrontendMessage::Startup(startup) = &message {
            let user = startup.parameters.get("user").map_or("", String::as_str);
            match place.admit(user, socket.socket_addr().ip()) {
                Ok(form) => inbound.expect_first_password(form),
                Err(refusal) => return close_with(&mut socket, refusal).await,
            }
        }
        let extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        // A CancelRequest comes on a connection of its own, closed once it is handled.
        let cancel_request = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        // Statements run under the peer watch (`None`: the client went away and the
        // statement was dropped). Boxed: a statement's future is large, and debug builds
        // move it through the thread's stack, which the parser's recursion needs.
        let processed = match message {
            PgWireFrontendMessage::Query(query) if serving(&socket) => {
                let statement = Box::pin(simple.on_simple_query(&mut socket, query));
                watch.while_connected(statement).await
            }
            PgWireFrontendMessage::Execute(execute) if serving(&socket) => {
                let statement = Box::pin(extended.on_execute_message(&mut socket, execute));
                watch.while_connected(statement).await
            }
            message => Some(
                process_message(
                    message,
                    &mut socket,
                    startup.clone(),
                    simple.clone(),
                    extended.clone(),
                    copy.clone(),
                    cancel.clone(),
                )
                .await,
            ),
        };
        let Some(processed) = processed else {
            client_gone(&socket);
            return Ok(());
        };
        if starting && matches!(socket.state(), PgWireConnectionState::ReadyForQuery) {
            let user = socket
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default();
            admission
                .throttle
                .succeeded(&user, socket.socket_addr().ip());
        }
        if let Err(mut error) = processed {
            errors.on_error(&socket, &mut error);
            // A FATAL error ends the session, as in PostgreSQL, and so does any error
            // before the client has authenticated.
            let fatal = error.is_fatal() || starting;
            process_error(&mut socket, error, extended_query).await?;
            if fatal {
                return linger(&mut socket).await;
            }
        }
        if cancel_request {
            break;
        }
    }
    Ok(())
}

/// Logs a client that went away while its statement ran (the statement is dropped).
fn client_gone(socket: &PgSocket) {
    let peer = socket.socket_addr();
    tracing::info!(%peer, "the client is gone; its statement was cancelled");
}

/// How long a connection closed by the server keeps reading (and dropping) what its
/// client still sends, at most.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

/// Sends a FATAL error and closes the connection (no ReadyForQuery after it, as in
/// PostgreSQL).
async fn close_with(socket: &mut PgSocket, error: PgWireError) -> std::io::Result<()> {
    let info: ErrorInfo = error.into();
    socket
        .send(PgWireBackendMessage::ErrorResponse(info.into()))
        .await?;
    linger(socket).await
}

/// Closes the write side, then reads and drops what the client still sends for a
/// moment: closing a socket with unread bytes makes the kernel answer with a reset,
/// which can destroy the error message the client has not read yet.
async fn linger(socket: &mut PgSocket) -> std::io::Result<()> {
    socket.get_mut().shutdown().await?;
    let mut sink = [0u8; 8192];
    let drain = async {
        let mut total = 0;
        while let Ok(read @ 1..) = socket.get_mut().read(&mut sink).await {
            total += read;
            if total > LINGER_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
    Ok(())
}

/// Waits until the first packet's 8-byte header (length and code) has arrived:
/// `false` when the client closes first or stalls for `stall` after its first byte.
async fn first_packet_header(socket: &TcpStream, stall: Duration) -> std::io::Result<bool> {
    let mut header = [0u8; 8];
    let mut first_byte_at = None;
    loop {
        let available = socket.peek(&mut header).await?;
        if available == 0 {
            return Ok(false);
        }
        if available >= header.len() {
            return Ok(true);
        }
        let since = *first_byte_at.get_or_insert_with(Instant::now);
        if since.elapsed() >= stall {
            return Ok(false);
        }
        // Rare (a header split across packets): look again shortly.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether the connection is past startup and not in COPY IN or waiting for Sync after
/// an error: the states in which pgwire hands Query and Execute to the handlers.
fn serving(socket: &PgSocket) -> bool {
    !matches!(
        socket.state(),
        PgWireConnectionState::AwaitingStartup
            | PgWireConnectionState::AuthenticationInProgress
            | PgWireConnectionState::AwaitingSync
            | PgWireConnectionState::CopyInProgress(_)
    )
}

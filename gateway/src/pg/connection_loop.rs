//! One Postgres wire connection, read and answered message by message: pgwire's
//! connection loop, owned here so that results reach the socket the fast way.
//!
//! pgwire's own loop writes to the socket whenever 8 KiB of messages are buffered; a
//! large result then costs a `write` system call every few dozen rows. Here the
//! buffer is flushed at [`WRITE_BUFFER`] (and at the end of every response, as
//! pgwire does), which takes a sixteenth of the calls. Query and Execute messages go
//! to our handler with the socket's concrete type, so that result rows are written
//! as prebuilt frames rather than one pgwire message at a time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lakegate_planner::Prepared;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::PgWireResult;
use pgwire::messages::PgWireFrontendMessage;
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::simplequery::Query;
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::net::TcpStream;

use super::outbound::{PgSocket, WRITE_BUFFER};

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

/// How long a client has to finish startup and authentication (PostgreSQL's
/// `authentication_timeout` is a minute too).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves one TCP connection until the client terminates it, a FATAL error ends it,
/// or the socket closes.
pub(crate) async fn serve_connection<H: PgWireServerHandlers, Q: DirectQueries>(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: H,
    query: Arc<Q>,
) -> std::io::Result<()> {
    let startup_deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_deadline);
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
    loop {
        let starting = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let message = if starting {
            tokio::select! {
                _ = &mut startup_deadline => None,
                message = socket.next() => message,
            }
        } else {
            socket.next().await
        };
        let Some(Ok(message)) = message else {
            break;
        };
        // Terminate ends the connection (some clients wait for the socket to close).
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        let extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        // A CancelRequest comes on a connection of its own, closed once it is handled.
        let cancel_request = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        let processed = match message {
            PgWireFrontendMessage::Query(query) if serving(&socket) => {
                simple.on_simple_query(&mut socket, query).await
            }
            PgWireFrontendMessage::Execute(execute) if serving(&socket) => {
                extended.on_execute_message(&mut socket, execute).await
            }
            message => {
                process_message(
                    message,
                    &mut socket,
                    startup.clone(),
                    simple.clone(),
                    extended.clone(),
                    copy.clone(),
                    cancel.clone(),
                )
                .await
            }
        };
        if let Err(mut error) = processed {
            errors.on_error(&socket, &mut error);
            // A FATAL error ends the session, as in PostgreSQL.
            let fatal = error.is_fatal();
            process_error(&mut socket, error, extended_query).await?;
            if fatal {
                break;
            }
        }
        if cancel_request {
            break;
        }
    }
    Ok(())
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

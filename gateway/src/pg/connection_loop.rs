//! One Postgres wire connection, read and answered message by message: pgwire's
//! connection loop, owned here so that the connection's write buffer is sized for
//! result streaming.
//!
//! pgwire's own loop writes to the socket whenever 8 KiB of messages are buffered; a
//! large result then costs a `write` system call every few dozen rows. Here the
//! buffer is flushed at [`WRITE_BUFFER`] (and at the end of every response, as
//! pgwire does), which takes a sixteenth of the calls.

use std::time::Duration;

use futures::StreamExt;
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::messages::PgWireFrontendMessage;
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::net::TcpStream;

/// Messages buffered before they are written to the socket.
const WRITE_BUFFER: usize = 128 * 1024;

/// How long a client has to finish startup and authentication (PostgreSQL's
/// `authentication_timeout` is a minute too).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves one TCP connection until the client terminates it, a FATAL error ends it,
/// or the socket closes.
pub(crate) async fn serve_connection<H: PgWireServerHandlers>(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: H,
) -> std::io::Result<()> {
    let startup_deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_deadline);
    let negotiated = tokio::select! {
        _ = &mut startup_deadline => return Ok(()),
        negotiated = negotiate_tls(socket, tls) => negotiated?,
    };
    // A client that began TLS directly when no certificate is configured.
    let Some(mut socket) = negotiated else {
        return Ok(());
    };
    socket.set_backpressure_boundary(WRITE_BUFFER);
    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
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
        let processed = process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await;
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

//! The connection's socket as the loop reads it: bytes are framed here, and a message
//! reaches pgwire's decoder only once it has arrived whole, within its size limit and
//! with a body that holds exactly its type's fields (`message_check`). pgwire decodes
//! the frame alone, so no decoder can read into the next message or past the end.

use std::time::Duration;

use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::messages::PgWireFrontendMessage;
use tokio::io::AsyncReadExt;
use tokio_util::codec::Decoder;

use super::message_check::{FirstPassword, Frame, MAX_AUTH_BYTES, check_body, frame};
use super::outbound::PgSocket;

/// What a connection's client may send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageLimits {
    /// The largest message after authentication, in bytes.
    pub(crate) max_message_bytes: usize,
    /// How long a message that has begun may go without another byte arriving.
    pub(crate) stall_timeout: Duration,
}

/// What reading the next message found.
pub(crate) enum Received {
    Message(PgWireFrontendMessage),
    /// The client closed the connection (between messages or inside one).
    Closed,
    /// The bytes break the protocol: the reason, for a FATAL 08P01 and the log.
    Violation(String),
}

/// Reads one connection's messages.
pub(crate) struct Inbound {
    limits: MessageLimits,
    /// Where socket reads land before they join the frame buffer.
    scratch: Box<[u8]>,
    /// What the client's first password message must hold, until it has come.
    first_password: Option<FirstPassword>,
}

const READ_CHUNK: usize = 16 * 1024;

impl Inbound {
    pub(crate) fn new(limits: MessageLimits) -> Self {
        Self {
            limits,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            first_password: None,
        }
    }

    /// Sets what the first password message must hold, once the startup packet has
    /// told which login exchange the user has.
    pub(crate) fn expect_first_password(&mut self, form: FirstPassword) {
        self.first_password = Some(form);
    }

    /// The next whole, checked message. Cancel-safe: bytes already read stay buffered
    /// in the socket's read buffer.
    pub(crate) async fn next(&mut self, socket: &mut PgSocket) -> std::io::Result<Received> {
        loop {
            let state = socket.state();
            let startup = matches!(state, PgWireConnectionState::AwaitingStartup);
            let authenticating =
                startup || matches!(state, PgWireConnectionState::AuthenticationInProgress);
            let max = if authenticating {
                MAX_AUTH_BYTES
            } else {
                self.limits.max_message_bytes
            };
            match frame(socket.read_buffer(), startup, max) {
                Err(reason) => return Ok(Received::Violation(reason)),
                Ok(Frame::Complete(len)) => return Ok(self.decode(socket, len, authenticating)),
                Ok(Frame::Incomplete) => {}
            }
            let partial = !socket.read_buffer().is_empty();
            let read = socket.get_mut().read(&mut self.scratch);
            let read = if partial {
                match tokio::time::timeout(self.limits.stall_timeout, read).await {
                    Ok(read) => read?,
                    Err(_) => {
                        return Ok(Received::Violation(format!(
                            "incomplete message: no data for {} ms after {} bytes",
                            self.limits.stall_timeout.as_millis(),
                            socket.read_buffer().len()
                        )));
                    }
                }
            } else {
                read.await?
            };
            if read == 0 {
                return Ok(Received::Closed);
            }
            socket
                .read_buffer_mut()
                .extend_from_slice(&self.scratch[..read]);
        }
    }

    /// Checks and decodes the whole frame of `len` bytes at the start of the buffer.
    fn decode(&mut self, socket: &mut PgSocket, len: usize, authenticating: bool) -> Received {
        let mut frame = socket.read_buffer_mut().split_to(len);
        if !matches!(socket.state(), PgWireConnectionState::AwaitingStartup) {
            let kind = frame[0];
            // While authenticating, a client sends password messages (or leaves).
            if authenticating && !matches!(kind, b'p' | b'X') {
                return Received::Violation(format!(
                    "expected a password message, got message type '{}'",
                    char::from(kind)
                ));
            }
            let first_password = if kind == b'p' {
                self.first_password.take()
            } else {
                None
            };
            if let Err(reason) = check_body(kind, &frame[5..], first_password) {
                return Received::Violation(reason);
            }
        }
        match socket.codec_mut().decode(&mut frame) {
            Ok(Some(message)) if frame.is_empty() => Received::Message(message),
            Ok(Some(_)) => Received::Violation(format!(
                "invalid message format: {} bytes left after the message",
                frame.len()
            )),
            Ok(None) => Received::Violation("invalid message format".to_string()),
            Err(e) => Received::Violation(e.to_string()),
        }
    }
}

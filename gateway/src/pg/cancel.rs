//! CancelRequest: a client cancels its connection's running statement with the process id
//! and secret key it received at startup (57014 "canceling statement due to user request").

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;
use tokio_util::sync::CancellationToken;

/// The cancel token of each connection's current statement, by (pid, secret key).
#[derive(Debug, Default)]
pub(crate) struct CancelRegistry {
    running: Mutex<HashMap<(i32, Bytes), CancellationToken>>,
}

impl CancelRegistry {
    /// Records the token of a connection's statement (replacing the previous one).
    pub(crate) fn set(&self, pid: i32, secret: &SecretKey, token: CancellationToken) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.insert((pid, secret.to_bytes()), token);
    }

    /// Forgets a closed connection.
    pub(crate) fn remove(&self, pid: i32, secret: &SecretKey) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.remove(&(pid, secret.to_bytes()));
    }

    fn cancel(&self, pid: i32, secret: &SecretKey) -> bool {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.get(&(pid, secret.to_bytes())) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

/// Receives CancelRequest messages.
#[derive(Debug)]
pub(crate) struct Canceller {
    pub(crate) registry: std::sync::Arc<CancelRegistry>,
}

#[async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        // A wrong key cancels nothing and says nothing, like PostgreSQL.
        let found = self.registry.cancel(request.pid, &request.secret_key);
        tracing::info!(pid = request.pid, found, "cancel request");
    }
}

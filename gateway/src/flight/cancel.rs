//! Queries that a CancelFlightInfo (or the older CancelQuery action) may stop: the
//! ones being streamed by DoGet, and the ones cancelled before their DoGet came.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow_flight::CancelStatus;
use tokio_util::sync::CancellationToken;

use super::auth::now_seconds;

#[derive(Debug, Default)]
struct State {
    /// Query id → the token that stops its stream.
    running: HashMap<u64, CancellationToken>,
    /// Query ids cancelled before their DoGet, with their tickets' expiry.
    cancelled: HashMap<u64, u64>,
    /// Query ids whose stream ended, with their tickets' expiry.
    finished: HashMap<u64, u64>,
}

/// The registry of cancellable queries.
#[derive(Debug, Default)]
pub(crate) struct FlightCancels {
    state: Mutex<State>,
}

impl FlightCancels {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a query's stream; `None` if the query was cancelled already.
    pub(crate) fn start(
        self: &Arc<Self>,
        query_id: u64,
        expires: u64,
        token: CancellationToken,
    ) -> Option<RunningGuard> {
        let mut state = self.state();
        if state.cancelled.remove(&query_id).is_some() {
            return None;
        }
        state.finished.remove(&query_id);
        state.running.insert(query_id, token);
        Some(RunningGuard {
            queries: self.clone(),
            query_id,
            expires,
        })
    }

    /// Cancels a query: its stream stops now, or its DoGet fails when it comes.
    pub(crate) fn cancel(&self, query_id: u64, expires: u64) -> CancelStatus {
        let mut state = self.state();
        if let Some(token) = state.running.remove(&query_id) {
            token.cancel();
            return CancelStatus::Cancelled;
        }
        let now = now_seconds();
        if expires <= now || state.finished.contains_key(&query_id) {
            return CancelStatus::NotCancellable;
        }
        state.cancelled.retain(|_, expiry| *expiry > now);
        state.cancelled.insert(query_id, expires);
        CancelStatus::Cancelled
    }
}

/// Removes a query from the registry when its stream ends.
#[derive(Debug)]
pub(crate) struct RunningGuard {
    queries: Arc<FlightCancels>,
    query_id: u64,
    expires: u64,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let mut state = self.queries.state();
        state.running.remove(&self.query_id);
        let now = now_seconds();
        state.finished.retain(|_, expiry| *expiry > now);
        state.finished.insert(self.query_id, self.expires);
    }
}

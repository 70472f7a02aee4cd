//! One computation per key at a time: when many sessions miss on the same key at once
//! (a dashboard opened by fifty people), the first computes the result and the others
//! wait for it to reach the cache instead of computing it too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// How long a session waits for another's identical query before computing its own:
/// a leader whose client reads slowly must not hold the others up for long.
pub(crate) const LEADER_WAIT: Duration = Duration::from_secs(10);

/// The keys being computed now, each with the channel that closes when its
/// computation ends (cached or not).
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    leaders: Mutex<HashMap<[u8; 32], watch::Receiver<()>>>,
}

/// Held by the session computing a key's result; dropping it (the result cached, too
/// large, failed or abandoned) releases the sessions waiting for it.
#[derive(Debug)]
pub(crate) struct LeaderGuard {
    in_flight: Arc<InFlight>,
    digest: [u8; 32],
    done: Option<watch::Sender<()>>,
}

impl InFlight {
    /// The lead of `digest`'s computation, or, when another session holds it, the
    /// channel that closes when that session is done.
    pub(crate) fn lead_or_wait(
        self: &Arc<Self>,
        digest: [u8; 32],
    ) -> Result<LeaderGuard, watch::Receiver<()>> {
        let mut leaders = self.leaders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = leaders.get(&digest) {
            return Err(done.clone());
        }
        let (done, waiting) = watch::channel(());
        leaders.insert(digest, waiting);
        Ok(LeaderGuard {
            in_flight: self.clone(),
            digest,
            done: Some(done),
        })
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        let mut leaders = self
            .in_flight
            .leaders
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Only this guard's own entry.
        if let (Some(done), Some(entry)) = (&self.done, leaders.get(&self.digest))
            && entry.same_channel(&done.subscribe())
        {
            leaders.remove(&self.digest);
        }
        drop(leaders);
        // Closing the channel wakes the waiters.
        self.done.take();
    }
}

//! One computation per key at a time: when many sessions miss on the same key at once
//! (a dashboard opened by fifty people), the first computes the result and the others
//! wait for it to reach the cache instead of computing it too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::{CachedResult, PlanKey, ResultCache};

/// How long a session waits for another's identical query before computing its own:
/// a leader whose client reads slowly must not hold the others up for long.
pub(crate) const LEADER_WAIT: Duration = Duration::from_secs(10);

/// The keys being computed now, each with the channel that closes when its
/// computation ends (cached or not).
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    leaders: Mutex<HashMap<[u8; 32], watch::Receiver<()>>>,
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// The result is cached.
    Hit(Arc<CachedResult>),
    /// No one computes it: this session does, and holds the guard while it does.
    Lead(LeaderGuard),
    /// Another session computes it now; the channel closes when it is done.
    Wait(watch::Receiver<()>),
}

/// Held by the session computing a key's result; dropping it (the result cached, too
/// large, failed or abandoned) releases the sessions waiting for it.
#[derive(Debug)]
pub(crate) struct LeaderGuard {
    cache: Arc<ResultCache>,
    digest: [u8; 32],
    done: Option<watch::Sender<()>>,
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        let mut leaders = self
            .cache
            .in_flight
            .leaders
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Only this guard's own entry: after a wait timed out, a later leader may
        // have taken the key.
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

impl ResultCache {
    /// The cached result of `key`, or the right to compute it, or the wait for the
    /// session computing it.
    pub(crate) fn lookup(self: &Arc<Self>, key: &PlanKey) -> Lookup {
        if let Some(hit) = self.get(key) {
            return Lookup::Hit(hit);
        }
        let mut leaders = self
            .in_flight
            .leaders
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(done) = leaders.get(&key.digest) {
            return Lookup::Wait(done.clone());
        }
        // A leader may have finished between the lookup and the lock.
        if let Some(hit) = self.get(key) {
            return Lookup::Hit(hit);
        }
        let (done, waiting) = watch::channel(());
        leaders.insert(key.digest, waiting);
        Lookup::Lead(LeaderGuard {
            cache: self.clone(),
            digest: key.digest,
            done: Some(done),
        })
    }

    /// Waits (at most [`LEADER_WAIT`]) for the session computing `key`, then looks
    /// it up again: `None` when its result did not reach the cache.
    pub(crate) async fn wait_for(
        &self,
        key: &PlanKey,
        mut done: watch::Receiver<()>,
    ) -> Option<Arc<CachedResult>> {
        // The sender never sends; `changed` returns when it is dropped.
        let _ = tokio::time::timeout(LEADER_WAIT, done.changed()).await;
        self.get(key)
    }
}

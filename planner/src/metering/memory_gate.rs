//! Admission by memory, as memory grants: a query whose plan reserves memory (a sort, a
//! grouped aggregation, a join's build side, a window) starts only once the gateway's
//! pool can grant it what it needs (memory_need.rs: what its scans decode, at most its
//! share, [`crate::MemoryLimits::admission_share`]); otherwise it waits, first come
//! first served, and its wait is queue time like a wait for a concurrency slot. A plan
//! that reserves nothing (a point lookup, a filter, a projection) needs no grant and
//! never waits here.
//!
//! A grant counts as held from admission until the query ends: the query is counted at
//! what it reserves, or its grant while it reserves less. Queries that arrive together
//! are therefore admitted against the grants of those admitted just before them, not
//! only against what the pool holds at that moment (when none has reserved yet).
//!
//! The pool itself is the hard bound (reservations beyond it spill or fail); the gate
//! keeps a busy gateway from starting queries that could only fail or spill at once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use datafusion::common::human_readable_size;
use datafusion::execution::memory_pool::MemoryPool;
use tokio::sync::{Mutex, Notify};

use super::Metrics;
use crate::{ErrorKind, QueryError, Result};

/// How many queries may wait for memory before more are refused (53400).
const MAX_WAITING: usize = 1000;
/// How often a waiting query looks at the pool again when nothing ended meanwhile
/// (a shrinking sort frees memory without ending its query).
const RECHECK: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub(crate) struct MemoryGate {
    pool: Arc<dyn MemoryPool>,
    limit: usize,
    share: usize,
    /// The grants of the running queries.
    grants: SyncMutex<Vec<GrantEntry>>,
    next_grant: AtomicU64,
    /// Held by the first waiting query: waiters enter in arrival order.
    line: Mutex<()>,
    /// Told when a query ends.
    ended: Notify,
    waiting: AtomicUsize,
}

/// A running query's grant: `need` bytes, of which it holds `held` now.
#[derive(Debug)]
struct GrantEntry {
    id: u64,
    need: usize,
    held: Arc<AtomicUsize>,
}

impl GrantEntry {
    /// What the pool does not hold yet of what was granted.
    fn outstanding(&self) -> usize {
        self.need.saturating_sub(self.held.load(Ordering::Relaxed))
    }
}

/// A query's memory grant; dropping it (the query ended) lets waiting queries look
/// at the pool again.
#[derive(Debug)]
pub(crate) struct Grant {
    gate: Arc<MemoryGate>,
    id: u64,
}

impl Drop for Grant {
    fn drop(&mut self) {
        let mut grants = self.gate.grants.lock().unwrap_or_else(|e| e.into_inner());
        grants.retain(|g| g.id != self.id);
        drop(grants);
        self.gate.ended.notify_waiters();
    }
}

impl MemoryGate {
    pub(crate) fn new(pool: Arc<dyn MemoryPool>, limit: usize, share: usize) -> Self {
        Self {
            pool,
            limit,
            share,
            grants: SyncMutex::new(Vec::new()),
            next_grant: AtomicU64::new(1),
            line: Mutex::new(()),
            ended: Notify::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// What a query whose plan reserves memory is granted at most.
    pub(crate) fn share(&self) -> usize {
        self.share
    }

    /// Grants `need` bytes if the pool, with every running grant counted in full, has
    /// them free; checked and recorded at once, so two arrivals cannot both take the
    /// last share.
    fn try_grant(self: &Arc<Self>, need: usize, held: &Arc<AtomicUsize>) -> Option<Grant> {
        let mut grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        let promised: usize = grants.iter().map(GrantEntry::outstanding).sum();
        let in_use = self.pool.reserved().saturating_add(promised);
        if in_use.saturating_add(need) > self.limit {
            return None;
        }
        let id = self.next_grant.fetch_add(1, Ordering::Relaxed);
        grants.push(GrantEntry {
            id,
            need,
            held: held.clone(),
        });
        Some(Grant {
            gate: self.clone(),
            id,
        })
    }

    /// Returns once the pool can grant `need` bytes (`held`: what the query holds
    /// reserved, as its pool counts it); a query that needs nothing gets no grant and
    /// does not wait.
    pub(crate) async fn wait(
        self: &Arc<Self>,
        need: usize,
        held: &Arc<AtomicUsize>,
        metrics: &Metrics,
    ) -> Result<Option<Grant>> {
        if need == 0 {
            return Ok(None);
        }
        if self.waiting.load(Ordering::Relaxed) == 0
            && let Some(grant) = self.try_grant(need, held)
        {
            return Ok(Some(grant));
        }
        let ahead = self.waiting.fetch_add(1, Ordering::Relaxed);
        metrics.queued(1);
        let _waiting = Waiting(&self.waiting, metrics);
        if ahead >= MAX_WAITING {
            return Err(QueryError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "too many queries waiting for memory ({ahead}); the gateway's memory \
                     limit of {} ([query] memory_limit) is in use; try again later",
                    human_readable_size(self.limit)
                ),
            ));
        }
        let _first = self.line.lock().await;
        loop {
            let ended = self.ended.notified();
            if let Some(grant) = self.try_grant(need, held) {
                return Ok(Some(grant));
            }
            let _ = tokio::time::timeout(RECHECK, ended).await;
        }
    }
}

/// Counts a query as waiting for as long as it waits (also when the wait is
/// cancelled).
struct Waiting<'a>(&'a AtomicUsize, &'a Metrics);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        self.1.queued(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::{FairSpillPool, MemoryConsumer};

    /// A query that asks for 250 bytes and holds nothing, waiting in its own task.
    fn waiter(gate: &Arc<MemoryGate>) -> tokio::task::JoinHandle<Result<Option<Grant>>> {
        let gate = gate.clone();
        tokio::spawn(async move {
            let held = Arc::new(AtomicUsize::new(0));
            gate.wait(250, &held, &Metrics::default()).await
        })
    }

    /// Asserts that `waiter` still waits after 200 ms.
    async fn still_waits(waiter: &tokio::task::JoinHandle<Result<Option<Grant>>>, why: &str) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiter.is_finished(), "{why}");
    }

    /// Asserts that `waiter` gets its grant within 2 s.
    async fn admitted(waiter: tokio::task::JoinHandle<Result<Option<Grant>>>) {
        let grant = tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("admitted within 2 s")
            .expect("join")
            .expect("admitted");
        assert!(grant.is_some());
    }

    fn gate(limit: usize, share: usize) -> (Arc<dyn MemoryPool>, Arc<MemoryGate>) {
        let pool: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(limit));
        let gate = Arc::new(MemoryGate::new(pool.clone(), limit, share));
        (pool, gate)
    }

    #[tokio::test]
    async fn a_query_waits_until_the_pool_has_its_share() {
        let (pool, gate) = gate(1000, 250);
        let metrics = Arc::new(Metrics::default());
        let nothing = Arc::new(AtomicUsize::new(0));
        drop(
            gate.wait(250, &nothing, &metrics)
                .await
                .expect("an empty pool admits"),
        );
        let held = MemoryConsumer::new("big").register(&pool);
        held.try_grow(800).expect("reserve");
        let waiter = waiter(&gate);
        still_waits(&waiter, "200 bytes free is less than the share").await;
        held.shrink(100);
        admitted(waiter).await;
    }

    #[tokio::test]
    async fn queries_arriving_together_count_each_others_grants() {
        let (_pool, gate) = gate(1000, 250);
        let metrics = Arc::new(Metrics::default());
        // Four admitted queries that have not reserved anything yet hold the pool.
        let mut running = Vec::new();
        for _ in 0..4 {
            let held = Arc::new(AtomicUsize::new(0));
            running.push(gate.wait(250, &held, &metrics).await.expect("room"));
        }
        let fifth = waiter(&gate);
        still_waits(&fifth, "four grants of 250 fill 1000 bytes").await;
        // A query that needs nothing is never held up.
        let light = Arc::new(AtomicUsize::new(0));
        let none = gate
            .wait(0, &light, &metrics)
            .await
            .expect("no need, no wait");
        assert!(none.is_none());
        // One query ends: the fifth takes its grant.
        running.pop();
        admitted(fifth).await;
    }

    #[tokio::test]
    async fn a_grant_counts_what_its_query_holds_beyond_it() {
        let (pool, gate) = gate(1000, 250);
        let metrics = Arc::new(Metrics::default());
        let held = Arc::new(AtomicUsize::new(0));
        let _grant = gate.wait(250, &held, &metrics).await.expect("room");
        // The query reserves 700: counted once, at what it holds.
        let reservation = MemoryConsumer::new("sort").register(&pool);
        reservation.try_grow(700).expect("reserve");
        held.store(700, Ordering::Relaxed);
        let other = Arc::new(AtomicUsize::new(0));
        let second = gate.wait(250, &other, &metrics).await.expect("300 free");
        let waiter = waiter(&gate);
        still_waits(&waiter, "700 held and 250 granted leave 50").await;
        drop(second);
        admitted(waiter).await;
    }
}

//! Admission by memory: a query starts only while the gateway's memory pool has its
//! share free ([`crate::MemoryLimits::admission_share`]); otherwise it waits, first come
//! first served, and its wait is queue time like a wait for a concurrency slot.
//!
//! The pool itself is the hard bound (reservations beyond it spill or fail); the gate
//! keeps a busy gateway from starting queries that could only fail or spill at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Held by the first waiting query: waiters enter in arrival order.
    line: Mutex<()>,
    /// Told when a query ends.
    ended: Notify,
    waiting: AtomicUsize,
}

impl MemoryGate {
    pub(crate) fn new(pool: Arc<dyn MemoryPool>, limit: usize, share: usize) -> Self {
        Self {
            pool,
            limit,
            share,
            line: Mutex::new(()),
            ended: Notify::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    fn has_room(&self) -> bool {
        self.pool.reserved().saturating_add(self.share) <= self.limit
    }

    /// A query ended: waiters look at the pool again.
    pub(crate) fn query_ended(&self) {
        self.ended.notify_waiters();
    }

    /// Returns once the pool has the query's share free.
    pub(crate) async fn wait(&self, metrics: &Metrics) -> Result<()> {
        if self.waiting.load(Ordering::Relaxed) == 0 && self.has_room() {
            return Ok(());
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
            if self.has_room() {
                return Ok(());
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

    #[tokio::test]
    async fn a_query_waits_until_the_pool_has_its_share() {
        let pool: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(1000));
        let gate = Arc::new(MemoryGate::new(pool.clone(), 1000, 250));
        let metrics = Arc::new(Metrics::default());
        gate.wait(&metrics).await.expect("an empty pool admits");
        let held = MemoryConsumer::new("big").register(&pool);
        held.try_grow(800).expect("reserve");
        let waiter = {
            let (gate, metrics) = (gate.clone(), metrics.clone());
            tokio::spawn(async move { gate.wait(&metrics).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !waiter.is_finished(),
            "200 bytes free is less than the share"
        );
        held.shrink(100);
        gate.query_ended();
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("admitted once 300 bytes are free")
            .expect("join")
            .expect("admitted");
    }
}

//! Admission: how many queries of a user or role run at once, and how many may wait.
//!
//! Each `[[finops.limits]]` line with `max_concurrent` is a gate with that many slots,
//! shared by every user the line applies to (a role's gate by all its users). A query
//! takes a slot at every gate that applies, in configuration order, and holds them
//! until its result stream ends. While the gate is full it waits in the gate's queue;
//! when `max_queued` queries already wait it is refused with 53400. The wait is the
//! query's queue time. Once planned, a query whose plan reserves memory waits for its
//! memory grant ([`MemoryGate`]) when the gateway's pool is short of its share.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::memory_gate::{Grant, MemoryGate};
use super::{Metrics, SharedStore};
use crate::{ErrorKind, QueryError, QueryLimit, Result};

/// How many queries may wait at a gate when `max_queued` is not set.
const DEFAULT_MAX_QUEUED: usize = 100;

#[derive(Debug)]
struct Gate {
    subject: String,
    slots: usize,
    semaphore: Arc<Semaphore>,
    max_queued: usize,
    waiting: AtomicUsize,
}

/// The gates of every limit line with `max_concurrent`.
#[derive(Debug)]
pub(crate) struct Admission {
    gates: Vec<Gate>,
    memory: Option<Arc<MemoryGate>>,
    metrics: Arc<Metrics>,
    /// The slots of every replica, when replicas share a store.
    shared: std::sync::OnceLock<SharedStore>,
}

/// How often a query waiting for a slot another replica holds looks again.
const SHARED_POLL: Duration = Duration::from_millis(50);

/// Slots a query holds in the shared store: renewed while held, given back on drop
/// (also when the wait for a later slot is cancelled).
#[derive(Debug)]
struct SharedHold {
    store: SharedStore,
    holders: Vec<String>,
    renew: Option<tokio::task::JoinHandle<()>>,
}

impl SharedHold {
    fn renew_while_held(&mut self) {
        if self.holders.is_empty() {
            return;
        }
        let (store, holders) = (self.store.clone(), self.holders.clone());
        self.renew = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(super::shared_store::SLOT_LEASE / 3).await;
                if let Err(e) = store.renew_slots(&holders).await {
                    tracing::warn!(error = %e, "shared query slots could not be renewed");
                }
            }
        }));
    }
}

impl Drop for SharedHold {
    fn drop(&mut self) {
        if let Some(renew) = self.renew.take() {
            renew.abort();
        }
        if self.holders.is_empty() {
            return;
        }
        let (store, holders) = (self.store.clone(), std::mem::take(&mut self.holders));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.release_slots(&holders).await {
                    tracing::warn!(error = %e, "shared query slots could not be given back; they expire");
                }
            });
        }
    }
}

/// The slots a running query holds; dropping them lets the next query in and counts
/// the query out of the running ones.
#[derive(Debug)]
pub(crate) struct Slots {
    _permits: Vec<OwnedSemaphorePermit>,
    _shared: Option<SharedHold>,
    /// The query's memory grant, once it has one.
    memory: Option<Grant>,
    metrics: Arc<Metrics>,
}

impl Slots {
    /// Holds the query's memory grant until the query ends.
    pub(crate) fn hold(&mut self, grant: Option<Grant>) {
        self.memory = grant;
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        self.metrics.running(-1);
    }
}

/// Counts a query as waiting at a gate for as long as it waits (also when the wait
/// is cancelled).
struct Waiting<'a>(&'a AtomicUsize, &'a Metrics);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        self.1.queued(-1);
    }
}

impl Admission {
    pub(crate) fn new(limits: &[QueryLimit], metrics: Arc<Metrics>) -> Self {
        let gates = limits
            .iter()
            .filter_map(|l| {
                let slots = l.max_concurrent?.max(1);
                Some(Gate {
                    subject: l.subject.clone(),
                    slots,
                    semaphore: Arc::new(Semaphore::new(slots)),
                    max_queued: l.max_queued.unwrap_or(DEFAULT_MAX_QUEUED),
                    waiting: AtomicUsize::new(0),
                })
            })
            .collect();
        Self {
            gates,
            memory: None,
            metrics,
            shared: std::sync::OnceLock::new(),
        }
    }

    /// Counts `max_concurrent` slots across the replicas that share `store`.
    pub(crate) fn share(&self, store: SharedStore) {
        let _ = self.shared.set(store);
    }

    /// Takes a slot of `gate` in the shared store, waiting while every replica's slots
    /// are taken. A store that cannot be reached leaves the replica's own limit, with a
    /// warning (limits protect resources; they do not guard data).
    async fn take_shared(&self, gate: &Gate, hold: &mut SharedHold) {
        let holder = format!("{:032x}", rand::random::<u128>());
        loop {
            match hold
                .store
                .try_take_slot(&gate.subject, gate.slots, &holder)
                .await
            {
                Ok(true) => {
                    hold.holders.push(holder);
                    return;
                }
                Ok(false) => tokio::time::sleep(SHARED_POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, subject = %gate.subject, "the shared slots cannot be read; counting this replica's only");
                    return;
                }
            }
        }
    }

    /// Queries also wait for `share` bytes free in `pool` (of `limit` bytes) before
    /// they start.
    pub(crate) fn with_memory(
        mut self,
        pool: Arc<dyn datafusion::execution::memory_pool::MemoryPool>,
        limit: usize,
        share: usize,
    ) -> Self {
        self.memory = Some(Arc::new(MemoryGate::new(pool, limit, share)));
        self
    }

    /// Takes a slot at every gate that applies, waiting for them; returns the slots and
    /// the time waited.
    pub(crate) async fn admit(&self, user: &str, roles: &[String]) -> Result<(Slots, Duration)> {
        let started = Instant::now();
        let mut permits = Vec::new();
        let mut shared = self.shared.get().map(|store| SharedHold {
            store: store.clone(),
            holders: Vec::new(),
            renew: None,
        });
        for gate in self
            .gates
            .iter()
            .filter(|g| g.subject == user || roles.contains(&g.subject))
        {
            if let Ok(permit) = gate.semaphore.clone().try_acquire_owned() {
                permits.push(permit);
                if let Some(hold) = &mut shared {
                    self.take_shared(gate, hold).await;
                }
                continue;
            }
            let queued = gate.waiting.fetch_add(1, Ordering::Relaxed);
            self.metrics.queued(1);
            let waiting = Waiting(&gate.waiting, &self.metrics);
            if queued >= gate.max_queued {
                return Err(QueryError::new(
                    ErrorKind::LimitExceeded,
                    format!(
                        "too many queries for {}: {} running and {queued} queued, the most \
                         allowed; try again later",
                        gate.subject, gate.slots
                    ),
                ));
            }
            let permit = gate
                .semaphore
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| QueryError::new(ErrorKind::Internal, "admission gate closed"))?;
            drop(waiting);
            permits.push(permit);
            if let Some(hold) = &mut shared {
                self.take_shared(gate, hold).await;
            }
        }
        if let Some(hold) = &mut shared {
            hold.renew_while_held();
        }
        self.metrics.running(1);
        Ok((
            Slots {
                _permits: permits,
                _shared: shared,
                memory: None,
                metrics: self.metrics.clone(),
            },
            started.elapsed(),
        ))
    }

    /// The bytes a query whose plan reserves memory is granted at most.
    pub(crate) fn memory_share(&self) -> Option<usize> {
        self.memory.as_ref().map(|memory| memory.share())
    }

    /// Waits for a memory grant of `need` bytes (`held`: what the query holds
    /// reserved, as its pool counts it); returns the grant and the time waited.
    pub(crate) async fn grant_memory(
        &self,
        need: usize,
        held: &Arc<AtomicUsize>,
    ) -> Result<(Option<Grant>, Duration)> {
        let started = Instant::now();
        let grant = match &self.memory {
            Some(memory) => memory.wait(need, held, &self.metrics).await?,
            None => None,
        };
        Ok((grant, started.elapsed()))
    }
}

//! The queries running now: a registry every query joins while it waits for a slot and
//! while its result is read, the `system.runtime.queries` table over it, and the kill
//! that stops one of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use datafusion::physical_plan::ExecutionPlan;
use tokio_util::sync::CancellationToken;

use crate::metering::QueryMeter;

/// Where a query is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum QueryState {
    /// Waiting for an execution slot (`[[finops.limits]] max_concurrent`).
    Queued = 0,
    /// Being planned, secured and estimated.
    Planning = 1,
    /// Executing; its result is being read.
    Running = 2,
}

impl QueryState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            QueryState::Queued => "queued",
            QueryState::Planning => "planning",
            QueryState::Running => "running",
        }
    }
}

/// Why a query was stopped by `system.kill_query`, for the error its client gets.
#[derive(Debug, Clone, Default)]
pub(crate) struct KillNote(Arc<OnceLock<String>>);

impl KillNote {
    /// The message of the kill, once killed.
    pub(crate) fn message(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// One query in the registry.
#[derive(Debug)]
pub(crate) struct RunningQuery {
    /// Whose query it is, and what.
    pub(crate) who: QueryIdentity,
    pub(crate) started_at: DateTime<Utc>,
    started: Instant,
    state: AtomicU8,
    /// The time it waited for a slot and a memory grant.
    queue: Mutex<QueueTime>,
    pub(crate) meter: Option<Arc<QueryMeter>>,
    /// Bytes the query is estimated to read, once estimated: the measure of progress.
    estimated_bytes: OnceLock<u64>,
    /// The physical plan (before metering wrappers), estimated when someone asks for
    /// the query's progress and no estimate was made before it ran.
    plan: Mutex<Option<Arc<dyn ExecutionPlan>>>,
    cancel: CancellationToken,
    pub(crate) killed: KillNote,
}

/// The time a query waited in queues, and since when it waits now.
#[derive(Debug)]
struct QueueTime {
    total: std::time::Duration,
    since: Option<Instant>,
}

/// What identifies a query in the registry.
#[derive(Debug)]
pub(crate) struct QueryIdentity {
    pub(crate) id: String,
    pub(crate) session_id: u64,
    pub(crate) user: String,
    pub(crate) roles: Vec<String>,
    pub(crate) protocol: String,
    pub(crate) client: String,
    /// The statement's text (`None` when the audit trail keeps only hashes).
    pub(crate) sql: Option<String>,
}

impl RunningQuery {
    pub(crate) fn set_state(&self, state: QueryState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    pub(crate) fn state(&self) -> QueryState {
        match self.state.load(Ordering::Relaxed) {
            0 => QueryState::Queued,
            1 => QueryState::Planning,
            _ => QueryState::Running,
        }
    }

    /// A wait (for a slot, then for memory) ended after `waited`.
    pub(crate) fn add_queued(&self, waited: std::time::Duration) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.total += waited;
        queue.since = None;
    }

    /// The query waits again (for its memory grant, once planned).
    pub(crate) fn queue_again(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).since = Some(Instant::now());
        self.set_state(QueryState::Queued);
    }

    pub(crate) fn set_estimate(&self, bytes: u64) {
        let _ = self.estimated_bytes.set(bytes);
    }

    pub(crate) fn set_plan(&self, plan: Arc<dyn ExecutionPlan>) {
        *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan);
    }

    /// Estimates the bytes the query reads, from its plan, if not estimated yet. The
    /// manifests this reads are counted as the query's metadata bytes.
    pub(crate) async fn ensure_estimate(&self) {
        if self.estimated_bytes().is_some() {
            return;
        }
        let plan = self.plan.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(plan) = plan else {
            return;
        };
        match lakegate_catalog::estimate::estimate_plan(&plan).await {
            Ok(estimate) => self.set_estimate(estimate.bytes()),
            Err(e) => tracing::debug!(query_id = %self.who.id, error = %e, "no progress estimate"),
        }
    }

    pub(crate) fn estimated_bytes(&self) -> Option<u64> {
        self.estimated_bytes.get().copied()
    }

    /// Time since the query was submitted.
    pub(crate) fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Time waited for a slot and for memory: so far while queued, in total once
    /// admitted.
    pub(crate) fn queued(&self) -> std::time::Duration {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match queue.since {
            Some(since) if self.state() == QueryState::Queued => queue.total + since.elapsed(),
            _ => queue.total,
        }
    }

    /// The fraction of its estimated bytes the query has read, below 1 until it ends;
    /// `None` when no estimate was made (or the estimate is zero bytes).
    pub(crate) fn progress(&self) -> Option<f64> {
        match self.state() {
            QueryState::Queued | QueryState::Planning => return Some(0.0),
            QueryState::Running => {}
        }
        let estimated = self.estimated_bytes()?;
        let meter = self.meter.as_ref()?;
        if estimated == 0 {
            return None;
        }
        let read = meter.scanned_bytes() as f64;
        Some((read / estimated as f64).min(0.99))
    }
}

/// The registry of the queries running now, by query id.
#[derive(Debug, Default)]
pub struct QueryRegistry {
    queries: Mutex<HashMap<String, Arc<RunningQuery>>>,
    /// The store the replicas share, and this replica's instance id (see
    /// query_registry_shared.rs).
    pub(crate) shared: OnceLock<(crate::metering::SharedStore, String)>,
}

/// Keeps a query in the registry; it leaves when this is dropped (with its result).
#[derive(Debug)]
pub(crate) struct Registration {
    registry: Arc<QueryRegistry>,
    pub(crate) query: Arc<RunningQuery>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.query.who.id);
    }
}

/// Why a kill did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KillRefusal {
    /// No such query is running, or the caller may not see it.
    NotRunning,
}

impl QueryRegistry {
    /// Adds a query, queued; it stays until the returned registration is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        who: QueryIdentity,
        meter: Option<Arc<QueryMeter>>,
        cancel: CancellationToken,
    ) -> Registration {
        let query = Arc::new(RunningQuery {
            who,
            started_at: Utc::now(),
            started: Instant::now(),
            state: AtomicU8::new(QueryState::Queued as u8),
            queue: Mutex::new(QueueTime {
                total: std::time::Duration::ZERO,
                since: Some(Instant::now()),
            }),
            meter,
            estimated_bytes: OnceLock::new(),
            plan: Mutex::new(None),
            cancel,
            killed: KillNote::default(),
        });
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(query.who.id.clone(), query.clone());
        Registration {
            registry: self.clone(),
            query,
        }
    }

    /// Every query now, oldest first.
    pub(crate) fn list(&self) -> Vec<Arc<RunningQuery>> {
        let mut queries: Vec<_> = self
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        queries.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then(a.who.id.cmp(&b.who.id))
        });
        queries
    }

    /// Stops query `id` when `may_kill` allows it for the query's owner. A query the
    /// caller may not kill is reported as not running, so that nobody learns of other
    /// users' queries by guessing ids.
    pub(crate) fn kill(
        &self,
        id: &str,
        message: String,
        may_kill: impl FnOnce(&RunningQuery) -> bool,
    ) -> Result<Arc<RunningQuery>, KillRefusal> {
        let query = self
            .queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or(KillRefusal::NotRunning)?;
        if !may_kill(&query) {
            return Err(KillRefusal::NotRunning);
        }
        let _ = query.killed.0.set(message);
        query.cancel.cancel();
        Ok(query)
    }
}

//! The results cache itself: finished results by plan key (moka, bounded in bytes and
//! time), with the computations in flight and the statements planned recently.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;
use lakegate_catalog::CatalogRegistry;
use lakegate_security::policy::Policy;
use moka::Expiry;
use moka::sync::Cache;
use tokio::sync::watch;

use super::key::PlanKey;
use super::single_flight::{InFlight, LEADER_WAIT, LeaderGuard};
use super::statements::{StatementEntry, StatementMap, statement_map};
use crate::semantic_layer::LoadedModels;

/// The results cache's bounds.
#[derive(Debug, Clone)]
pub struct ResultsCacheConfig {
    /// Memory for cached results (0: no cache).
    pub capacity_bytes: u64,
    /// The largest result kept.
    pub max_entry_bytes: u64,
    /// How long a result is kept at most.
    pub ttl: std::time::Duration,
}

/// A cached result.
#[derive(Debug)]
pub(crate) struct CachedResult {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    bytes: usize,
    /// Shorter than the cache's own TTL for results over live sources.
    ttl: Option<Duration>,
}

impl CachedResult {
    /// The result's batches, as a stream.
    pub(crate) fn stream(&self) -> datafusion::error::Result<SendableRecordBatchStream> {
        let stream = MemoryStream::try_new(self.batches.clone(), self.schema.clone(), None)?;
        Ok(Box::pin(stream))
    }
}

/// Each entry lives at most its own TTL (results over live sources), under the
/// cache's TTL.
struct EntryTtl;

impl Expiry<[u8; 32], Arc<CachedResult>> for EntryTtl {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<CachedResult>,
        _created_at: Instant,
    ) -> Option<Duration> {
        value.ttl
    }
}

/// The results cache of one gateway.
#[derive(Debug)]
pub(crate) struct ResultCache {
    entries: Cache<[u8; 32], Arc<CachedResult>>,
    /// The largest result one entry holds.
    pub(super) max_entry_bytes: usize,
    /// The keys whose results are being computed now.
    in_flight: Arc<InFlight>,
    /// The plan key each recently run statement was planned to.
    statements: StatementMap,
}

impl ResultCache {
    /// The cache `config` describes, or `None` when it is off (0 bytes).
    pub(crate) fn new(config: &ResultsCacheConfig) -> Option<Self> {
        if config.capacity_bytes == 0 {
            return None;
        }
        let entries = Cache::builder()
            .weigher(|_, v: &Arc<CachedResult>| u32::try_from(v.bytes).unwrap_or(u32::MAX))
            .max_capacity(config.capacity_bytes)
            .time_to_live(config.ttl)
            .expire_after(EntryTtl)
            .build();
        let max_entry_bytes = config.max_entry_bytes.min(config.capacity_bytes);
        Some(Self {
            entries,
            max_entry_bytes: usize::try_from(max_entry_bytes).unwrap_or(usize::MAX),
            in_flight: Default::default(),
            statements: statement_map(config.ttl),
        })
    }

    /// The result cached under `key`.
    pub(crate) fn get(&self, key: &PlanKey) -> Option<Arc<CachedResult>> {
        self.entries.get(&key.digest)
    }

    /// Keeps a finished result.
    pub(super) fn insert(
        &self,
        key: &PlanKey,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        bytes: usize,
    ) {
        let entry = CachedResult {
            schema,
            batches,
            bytes,
            ttl: key.ttl,
        };
        self.entries.insert(key.digest, Arc::new(entry));
    }

    /// Memory the cached results hold, in bytes.
    pub(crate) fn bytes(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    /// How many results are cached.
    pub(crate) fn entries(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
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

impl ResultCache {
    /// The cached result of `key`, or the right to compute it, or the wait for the
    /// session computing it.
    pub(crate) fn lookup(&self, key: &PlanKey) -> Lookup {
        if let Some(hit) = self.get(key) {
            return Lookup::Hit(hit);
        }
        // A leader may finish between the lookup and taking the lead: checked again
        // once the lead is held.
        match self.in_flight.lead_or_wait(key.digest) {
            Err(done) => Lookup::Wait(done),
            Ok(guard) => match self.get(key) {
                Some(hit) => Lookup::Hit(hit),
                None => Lookup::Lead(guard),
            },
        }
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

    /// The cached result of the statement keyed `statement`, when what it was planned
    /// under still holds and its result is still cached.
    pub(crate) async fn statement_hit(
        &self,
        statement: &[u8; 32],
        policy: &Arc<Policy>,
        models: Option<&Arc<LoadedModels>>,
        registry: &CatalogRegistry,
    ) -> Option<(Arc<StatementEntry>, Arc<CachedResult>)> {
        let entry = self.statements.planned_under(statement, policy, models)?;
        // The result first: an evicted one needs planning whatever the tables say.
        let result = self.get(&entry.key)?;
        entry
            .tables_unchanged(registry)
            .await
            .then_some((entry, result))
    }

    /// Remembers that the statement keyed `statement` was planned to `key` under
    /// `policy` and `models` (unless a table of it cannot be checked cheaply).
    pub(crate) fn remember_statement(&self, statement: [u8; 32], entry: StatementEntry) {
        self.statements.remember(statement, entry);
    }
}

//! Query results kept in memory (a moka cache) and served again to whoever runs the
//! same secured plan over the same data.
//!
//! The key ([`key::plan_key`]) is a SHA-256 of the *analyzed* logical plan, after the
//! security rule (row filters with their bound values, masks) and with its parameters
//! bound, together with the version of every table it reads and the session's engine
//! settings: a hit skips logical optimization, physical planning and execution. Two
//! principals share an entry only when their policies made the same plan, which
//! returns the same rows; a new snapshot of any table is a new key. Results over
//! sources without versions are cached only when their catalog opts in with a TTL.
//! Only results that finished without error and fit in an entry are kept.

pub(crate) mod filling;
pub(crate) mod key;
pub(crate) mod single_flight;
pub(crate) mod statements;

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;
use moka::Expiry;
use moka::sync::Cache;

pub(crate) use key::{PlanKey, plan_key};
pub(crate) use single_flight::{LeaderGuard, Lookup};

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
    max_entry_bytes: usize,
    /// The keys whose results are being computed now.
    in_flight: single_flight::InFlight,
    /// The plan key each recently run statement was planned to.
    statements: Cache<[u8; 32], Arc<statements::StatementEntry>>,
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
            statements: statements::statement_map(config.ttl),
        })
    }

    /// The result cached under `key`.
    pub(crate) fn get(&self, key: &PlanKey) -> Option<Arc<CachedResult>> {
        self.entries.get(&key.digest)
    }

    /// Keeps a finished result.
    fn insert(&self, key: &PlanKey, schema: SchemaRef, batches: Vec<RecordBatch>, bytes: usize) {
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

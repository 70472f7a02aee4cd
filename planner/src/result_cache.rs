//! Results of semantic queries, kept in memory (a moka cache) and served again to whoever runs
//! the same secured plan over the same snapshots.
//!
//! The key is a SHA-256 of the physical plan as it will run, after the security rule
//! (row filters with their bound values, masks), with the schema it returns and the
//! snapshot id of every table it scans. Two principals share an entry only when their
//! policies made the same plan, which returns the same rows; a new snapshot of any table
//! makes a new key. Only plans whose every leaf is an Iceberg scan are cached (other
//! sources have no snapshot to pin), and only results that finished without error and
//! fit in an entry.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DFResult;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::memory::MemoryStream;
use futures::Stream;
use iceberg_datafusion::physical_plan::IcebergTableScan;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

/// A cached result.
#[derive(Debug)]
pub(crate) struct CachedResult {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

/// The cache of one gateway.
#[derive(Debug)]
pub(crate) struct ResultCache {
    entries: Cache<[u8; 32], Arc<CachedResult>>,
    /// The largest result one entry holds.
    max_entry_bytes: usize,
}

impl ResultCache {
    /// A cache holding up to `capacity_bytes` of results, each kept at most `ttl`.
    pub(crate) fn new(capacity_bytes: u64, ttl: Duration) -> Self {
        let entries = Cache::builder()
            .weigher(|_, v: &Arc<CachedResult>| {
                let bytes: usize = v.batches.iter().map(|b| b.get_array_memory_size()).sum();
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .max_capacity(capacity_bytes)
            .time_to_live(ttl)
            .build();
        Self {
            entries,
            // One entry may take at most an eighth of the cache.
            max_entry_bytes: usize::try_from(capacity_bytes / 8).unwrap_or(usize::MAX),
        }
    }

    /// The result cached under `key`, as a stream.
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<SendableRecordBatchStream> {
        let hit = self.entries.get(key)?;
        let stream = MemoryStream::try_new(hit.batches.clone(), hit.schema.clone(), None).ok()?;
        Some(Box::pin(stream))
    }

    /// `stream`, keeping its batches to cache them under `key` if it ends without
    /// error and within an entry's size.
    pub(crate) fn fill(
        self: &Arc<Self>,
        key: [u8; 32],
        stream: SendableRecordBatchStream,
    ) -> SendableRecordBatchStream {
        Box::pin(Filling {
            schema: stream.schema(),
            input: stream,
            key,
            cache: self.clone(),
            kept: Some(Vec::new()),
            bytes: 0,
        })
    }
}

/// The cache key of a plan, or `None` when the plan reads something without a
/// snapshot. `user` is part of the key only when the plan calls a function whose value
/// depends on the session.
pub(crate) fn key(plan: &Arc<dyn ExecutionPlan>, user: &str) -> Option<[u8; 32]> {
    let mut snapshots = Vec::new();
    if !iceberg_leaves(plan, &mut snapshots) {
        return None;
    }
    let text = datafusion::physical_plan::displayable(plan.as_ref())
        .indent(true)
        .to_string();
    let mut hash = Sha256::new();
    hash.update(text.as_bytes());
    hash.update(format!("{:?}", plan.schema()).as_bytes());
    for (table, snapshot) in &snapshots {
        hash.update(format!("\n{table}@{snapshot:?}").as_bytes());
    }
    let lower = text.to_ascii_lowercase();
    if ["current_user", "session_user", "current_role", "user()"]
        .iter()
        .any(|f| lower.contains(f))
    {
        hash.update(format!("\nuser={user}").as_bytes());
    }
    Some(hash.finalize().into())
}

/// Collects each scan's table and snapshot; false if a leaf is not an Iceberg scan.
fn iceberg_leaves(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<(String, Option<i64>)>) -> bool {
    if let Some(pinned) = lakegate_catalog::iceberg::native_scan_snapshot(plan.as_ref()) {
        out.push(pinned);
        return true;
    }
    if let Some(scan) = plan.as_any().downcast_ref::<IcebergTableScan>() {
        let table = scan.table();
        let snapshot = scan
            .snapshot_id()
            .or_else(|| table.metadata().current_snapshot_id());
        out.push((table.identifier().to_string(), snapshot));
        return true;
    }
    let children = plan.children();
    if children.is_empty() {
        // Leaves that read nothing.
        return matches!(plan.name(), "EmptyExec" | "PlaceholderRowExec");
    }
    children.into_iter().all(|child| iceberg_leaves(child, out))
}

struct Filling {
    schema: SchemaRef,
    input: SendableRecordBatchStream,
    key: [u8; 32],
    cache: Arc<ResultCache>,
    /// The batches so far; `None` once the result is too large or failed.
    kept: Option<Vec<RecordBatch>>,
    bytes: usize,
}

impl Stream for Filling {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = this.input.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                this.bytes += batch.get_array_memory_size();
                if this.bytes > this.cache.max_entry_bytes {
                    this.kept = None;
                } else if let Some(kept) = this.kept.as_mut() {
                    kept.push(batch.clone());
                }
            }
            Poll::Ready(Some(Err(_))) => this.kept = None,
            Poll::Ready(None) => {
                if let Some(batches) = this.kept.take() {
                    let entry = Arc::new(CachedResult {
                        schema: this.schema.clone(),
                        batches,
                    });
                    // Before the end is returned: the client's next query can hit it.
                    this.cache.entries.insert(this.key, entry);
                }
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl RecordBatchStream for Filling {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

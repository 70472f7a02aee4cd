//! A query's result stream that keeps its batches as they pass, and caches them when
//! the result ends without error within an entry's size.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DFResult;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;

use super::key::PlanKey;
use super::single_flight::LeaderGuard;
use super::store::ResultCache;

impl ResultCache {
    /// `stream`, keeping its batches to cache them under `key` if it ends without
    /// error and within an entry's size. `leader`, when this session computes the
    /// key for others waiting, is released once the result is cached or cannot be.
    pub(crate) fn fill(
        self: &Arc<Self>,
        key: PlanKey,
        leader: Option<LeaderGuard>,
        stream: SendableRecordBatchStream,
    ) -> SendableRecordBatchStream {
        Box::pin(Filling {
            schema: stream.schema(),
            input: stream,
            key,
            cache: self.clone(),
            kept: Some(Vec::new()),
            bytes: 0,
            leader,
        })
    }
}

struct Filling {
    schema: SchemaRef,
    input: SendableRecordBatchStream,
    key: PlanKey,
    cache: Arc<ResultCache>,
    /// The batches so far; `None` once the result is too large or failed.
    kept: Option<Vec<RecordBatch>>,
    bytes: usize,
    /// Released (waking the sessions waiting for this result) once the result is
    /// cached or will not be.
    leader: Option<LeaderGuard>,
}

impl Stream for Filling {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = this.input.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                if let Some(kept) = this.kept.as_mut() {
                    this.bytes += batch.get_array_memory_size();
                    if this.bytes > this.cache.max_entry_bytes {
                        this.kept = None;
                        this.leader = None;
                    } else {
                        kept.push(batch.clone());
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                this.kept = None;
                this.leader = None;
            }
            Poll::Ready(None) => {
                if let Some(batches) = this.kept.take() {
                    // Before the end is returned: the client's next query can hit it.
                    this.cache
                        .insert(&this.key, this.schema.clone(), batches, this.bytes);
                }
                // Then the waiting sessions find it.
                this.leader = None;
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

//! The memory of one query: a pool in front of the gateway's shared pool that holds the
//! query to `per_query_memory_limit` (fairly between its partitions) and tracks what its operators reserve (hash tables,
//! sort buffers, aggregation state), as DataFusion accounts it. Batches in flight
//! between operators are not reservations.
//!
//! A refused reservation is DataFusion's `ResourcesExhausted`: an operator that can
//! spill (a sort, a hash aggregation) spills and carries on; any other fails the query
//! with 53200, the error naming the limit that was reached.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::human_readable_size;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

#[derive(Debug)]
pub(crate) struct QueryPool {
    inner: Arc<dyn MemoryPool>,
    /// The query's own fair spilling pool of its limit: spillable operators (one per
    /// partition) share what non-spillable ones leave, so one partition's sort cannot
    /// starve another's merge. `None` without a per-query limit.
    own: Option<FairSpillPool>,
    limit: usize,
    /// What the query holds reserved now (its memory grant reads it).
    current: Arc<AtomicUsize>,
    peak: AtomicUsize,
}

impl QueryPool {
    pub(crate) fn new(inner: Arc<dyn MemoryPool>, limit: usize) -> Self {
        Self {
            inner,
            own: (limit < usize::MAX).then(|| FairSpillPool::new(limit)),
            limit,
            current: Arc::new(AtomicUsize::new(0)),
            peak: AtomicUsize::new(0),
        }
    }

    /// The most this query held reserved at once, in bytes.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// What the query holds reserved now, as a counter that follows it.
    pub(crate) fn held(&self) -> Arc<AtomicUsize> {
        self.current.clone()
    }

    fn added(&self, bytes: usize) {
        let now = self.current.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

impl MemoryPool for QueryPool {
    fn register(&self, consumer: &MemoryConsumer) {
        if let Some(own) = &self.own {
            own.register(consumer);
        }
        self.inner.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if let Some(own) = &self.own {
            own.unregister(consumer);
        }
        self.inner.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        if let Some(own) = &self.own {
            own.grow(reservation, additional);
        }
        self.inner.grow(reservation, additional);
        self.added(additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        if let Some(own) = &self.own {
            own.shrink(reservation, shrink);
        }
        self.inner.shrink(reservation, shrink);
        self.current.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        if let Some(own) = &self.own
            && let Err(error) = own.try_grow(reservation, additional)
        {
            return Err(match error {
                DataFusionError::ResourcesExhausted(_) => {
                    DataFusionError::ResourcesExhausted(format!(
                        "the query's memory limit of {} ([query] per_query_memory_limit) is \
                         reached: {} asked for {} more while the query holds {}",
                        human_readable_size(self.limit),
                        reservation.consumer().name(),
                        human_readable_size(additional),
                        human_readable_size(self.current.load(Ordering::Relaxed)),
                    ))
                }
                other => other,
            });
        }
        if let Err(error) = self.inner.try_grow(reservation, additional) {
            if let Some(own) = &self.own {
                own.shrink(reservation, additional);
            }
            return Err(match (error, self.inner.memory_limit()) {
                (DataFusionError::ResourcesExhausted(why), MemoryLimit::Finite(limit)) => {
                    DataFusionError::ResourcesExhausted(format!(
                        "the gateway's memory limit of {} ([query] memory_limit) is reached \
                         by all running queries: {why}",
                        human_readable_size(limit)
                    ))
                }
                (error, _) => error,
            });
        }
        self.added(additional);
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        match self.inner.memory_limit() {
            MemoryLimit::Finite(shared) => MemoryLimit::Finite(shared.min(self.limit)),
            _ if self.limit < usize::MAX => MemoryLimit::Finite(self.limit),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_held_to_its_limit_and_the_error_names_it() {
        let shared: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(1000));
        let pool: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(shared.clone(), 300));
        let join = MemoryConsumer::new("HashJoinInput").register(&pool);
        join.try_grow(200).expect("within the query's limit");
        let error = join.try_grow(200).expect_err("beyond the query's limit");
        let message = error.to_string();
        assert!(message.contains("per_query_memory_limit"), "{message}");
        assert!(message.contains("HashJoinInput"), "{message}");
        assert_eq!(
            shared.reserved(),
            200,
            "a refused reservation takes nothing"
        );
        join.shrink(150);
        join.try_grow(240).expect("room again after shrinking");
        drop(join);
        assert_eq!(shared.reserved(), 0);
    }

    #[test]
    fn the_shared_limit_is_named_when_other_queries_hold_the_pool() {
        let shared: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(1000));
        let first: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(shared.clone(), 800));
        let second = QueryPool::new(shared.clone(), 800);
        let second: Arc<dyn MemoryPool> = Arc::new(second);
        let a = MemoryConsumer::new("a").register(&first);
        a.try_grow(700).expect("first query");
        let b = MemoryConsumer::new("b").register(&second);
        let message = b.try_grow(400).expect_err("the pool is full").to_string();
        assert!(message.contains("[query] memory_limit"), "{message}");
        b.try_grow(300).expect("what is left");
        assert_eq!(shared.reserved(), 1000);
    }
}

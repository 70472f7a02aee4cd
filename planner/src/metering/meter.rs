//! The meter of one query: storage reads, CPU, memory and queueing, taken as figures
//! when its result ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::ExecutionPlan;
use lakegate_catalog::CountingObjectStore;
use lakegate_catalog::metering::ScanMeter;

use super::figures::QueryFigures;
use super::price::PriceList;
use super::{cpu, memory};

use crate::Result;

/// The meter of one query.
#[derive(Debug)]
pub(crate) struct QueryMeter {
    scan: Arc<ScanMeter>,
    cpu: Arc<cpu::CpuClock>,
    memory: Arc<memory::QueryPool>,
    /// The plan that runs, whose operators count what they spilled.
    plan: std::sync::OnceLock<Arc<dyn ExecutionPlan>>,
    runtime: Arc<RuntimeEnv>,
    started: Instant,
    /// Nanoseconds waited for an execution slot and a memory grant.
    queued: std::sync::atomic::AtomicU64,
}

impl QueryMeter {
    /// A meter whose memory pool sits in front of `runtime`'s, holding the query to
    /// `memory_limit` bytes, and whose runtime reads `stores` (the files catalogs')
    /// through counters.
    pub(crate) fn new(
        runtime: &RuntimeEnv,
        stores: &[(url::Url, Arc<dyn object_store::ObjectStore>)],
        memory_limit: usize,
    ) -> Result<Self> {
        let memory = Arc::new(memory::QueryPool::new(
            runtime.memory_pool.clone(),
            memory_limit,
        ));
        let scan = Arc::new(ScanMeter::default());
        let mut builder =
            RuntimeEnvBuilder::from_runtime_env(runtime).with_memory_pool(memory.clone());
        if !stores.is_empty() {
            let registry = DefaultObjectStoreRegistry::new();
            for (url, store) in stores {
                registry.register_store(
                    url,
                    Arc::new(CountingObjectStore::new(store.clone(), scan.clone())),
                );
            }
            builder = builder.with_object_store_registry(Arc::new(registry));
        }
        let runtime = builder.build_arc()?;
        Ok(Self {
            scan,
            cpu: Arc::new(cpu::CpuClock::default()),
            memory,
            plan: std::sync::OnceLock::new(),
            runtime,
            started: Instant::now(),
            queued: Default::default(),
        })
    }

    /// Records the time the query waited for an execution slot.
    /// Adds a wait (for a slot, then for memory) to the query's queue time.
    pub(crate) fn add_queued(&self, queued: Duration) {
        self.queued.fetch_add(
            queued.as_nanos() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// What the query holds reserved in memory now, as a counter that follows it.
    pub(crate) fn memory_held(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        self.memory.held()
    }

    /// The storage counters, for the query's session config.
    pub(crate) fn scan(&self) -> Arc<ScanMeter> {
        self.scan.clone()
    }

    /// The runtime the query executes in (its memory pool is metered).
    pub(crate) fn runtime(&self) -> Arc<RuntimeEnv> {
        self.runtime.clone()
    }

    /// The physical plan with CPU metering on every operator.
    pub(crate) fn instrument(
        &self,
        plan: Arc<dyn ExecutionPlan>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let _ = self.plan.set(plan.clone());
        Ok(cpu::instrument(plan, &self.cpu)?)
    }

    /// Adds CPU time the distributed workers spent on the query's stages.
    pub(crate) fn add_worker_cpu(&self, nanos: u64) {
        self.cpu.add_nanos(nanos);
    }

    /// Bytes and files the query's operators spilled to disk so far.
    fn spills(&self) -> (u64, u64) {
        fn add(plan: &Arc<dyn ExecutionPlan>, totals: &mut (u64, u64)) {
            if let Some(metrics) = plan.metrics() {
                totals.0 += metrics.spilled_bytes().unwrap_or(0) as u64;
                totals.1 += metrics.spill_count().unwrap_or(0) as u64;
            }
            for child in plan.children() {
                add(child, totals);
            }
        }
        let mut totals = (0, 0);
        if let Some(plan) = self.plan.get() {
            add(plan, &mut totals);
        }
        totals
    }

    /// Bytes read from data files so far.
    pub(crate) fn scanned_bytes(&self) -> u64 {
        self.scan.figures().data_bytes
    }

    /// The figures so far of a query still running (nothing returned counted, no cost).
    pub(crate) fn live(&self) -> QueryFigures {
        let mut figures = self.figures(0, 0, &PriceList::default());
        figures.cost = 0.0;
        figures
    }

    /// The figures now, with what the client received.
    pub(crate) fn figures(
        &self,
        rows_returned: u64,
        bytes_returned: u64,
        prices: &PriceList,
    ) -> QueryFigures {
        let scan = self.scan.figures();
        let (spilled_bytes, spill_files) = self.spills();
        let mut figures = QueryFigures {
            bytes_scanned: scan.data_bytes,
            metadata_bytes: scan.metadata_bytes,
            files_scanned: scan.data_files,
            files_pruned: scan.snapshot_files.saturating_sub(scan.data_files),
            row_groups_scanned: scan.row_groups_read,
            row_groups_pruned: scan.row_groups.saturating_sub(scan.row_groups_read),
            read_requests: scan.read_requests,
            rows_scanned: scan.rows,
            rows_returned,
            bytes_returned,
            cpu_ms: self.cpu.nanos() as f64 / 1e6,
            wall_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            queue_ms: self.queued.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6,
            peak_memory_bytes: self.memory.peak() as u64,
            spilled_bytes,
            spill_files,
            cost: 0.0,
        };
        figures.cost = prices.cost(&figures);
        figures
    }
}

//! Metering: what each query read, computed and held, and what that cost.
//!
//! A [`QueryMeter`] is made for each query before it is planned. Storage reads are
//! counted by the catalog's counting storage (through the [`ScanMeter`] placed in the
//! query's session config), CPU by wrapping every operator (cpu.rs), memory by a pool
//! in front of the shared one (memory.rs). When the result stream ends, the figures
//! are taken once and priced with the configured [`PriceList`].

mod admission;
mod budgets;
mod cpu;
pub(crate) use cpu::install_spawn_hook;
mod limits;
mod memory;
mod metrics;
mod price;

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::ExecutionPlan;
use lakegate_catalog::CountingObjectStore;
use lakegate_catalog::metering::ScanMeter;

pub(crate) use admission::Admission;
pub(crate) use budgets::refusal_message;
pub use budgets::{Budget, BudgetLedger, BudgetMode, BudgetPeriod};
pub use limits::QueryLimit;
pub(crate) use limits::{max_scan_bytes, statement_timeout_ms};
pub use metrics::Metrics;
pub use price::PriceList;

use crate::Result;

/// The meter of one query.
#[derive(Debug)]
pub(crate) struct QueryMeter {
    scan: Arc<ScanMeter>,
    cpu: Arc<cpu::CpuClock>,
    memory: Arc<memory::PeakPool>,
    runtime: Arc<RuntimeEnv>,
    started: Instant,
    /// Nanoseconds waited for an execution slot.
    queued: std::sync::atomic::AtomicU64,
}

/// Everything measured about one query, priced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryFigures {
    /// Bytes read from data files.
    pub bytes_scanned: u64,
    /// Bytes read from table metadata (manifests).
    pub metadata_bytes: u64,
    /// Data files opened.
    pub files_scanned: u64,
    /// Data files of the scanned snapshots that were not opened: pruned by partition
    /// or column statistics, or not needed once a LIMIT was reached.
    pub files_pruned: u64,
    /// Parquet row groups whose column chunks were read.
    pub row_groups_scanned: u64,
    /// Row groups of the opened files that were not read (pruned by their statistics).
    pub row_groups_pruned: u64,
    /// Reads issued to storage.
    pub read_requests: u64,
    /// Rows the table scans produced.
    pub rows_scanned: u64,
    /// Rows sent to the client.
    pub rows_returned: u64,
    /// Arrow bytes of the rows sent to the client.
    pub bytes_returned: u64,
    /// CPU time of the query's operators.
    pub cpu_ms: f64,
    /// Time from the start of planning to the end of the result.
    pub wall_ms: f64,
    /// Time spent waiting for an execution slot.
    pub queue_ms: f64,
    /// Peak memory reserved by the query's operators.
    pub peak_memory_bytes: u64,
    /// Cost in the price list's unit.
    pub cost: f64,
}

impl QueryMeter {
    /// A meter whose memory pool sits in front of `runtime`'s, and whose runtime reads
    /// `stores` (the files catalogs') through counters.
    pub(crate) fn new(
        runtime: &RuntimeEnv,
        stores: &[(url::Url, Arc<dyn object_store::ObjectStore>)],
    ) -> Result<Self> {
        let memory = Arc::new(memory::PeakPool::new(runtime.memory_pool.clone()));
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
            runtime,
            started: Instant::now(),
            queued: Default::default(),
        })
    }

    /// Records the time the query waited for an execution slot.
    pub(crate) fn set_queued(&self, queued: Duration) {
        self.queued.store(
            queued.as_nanos() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
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
        Ok(cpu::instrument(plan, &self.cpu)?)
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
            cost: 0.0,
        };
        figures.cost = prices.cost(&figures);
        figures
    }
}

impl From<QueryFigures> for lakegate_security::audit::AuditCost {
    fn from(f: QueryFigures) -> Self {
        Self {
            bytes_scanned: f.bytes_scanned,
            metadata_bytes: f.metadata_bytes,
            files_scanned: f.files_scanned,
            files_pruned: f.files_pruned,
            row_groups_scanned: f.row_groups_scanned,
            row_groups_pruned: f.row_groups_pruned,
            read_requests: f.read_requests,
            rows_scanned: f.rows_scanned,
            bytes_returned: f.bytes_returned,
            cpu_ms: f.cpu_ms,
            queue_ms: f.queue_ms,
            peak_memory_bytes: f.peak_memory_bytes,
            cost: f.cost,
        }
    }
}

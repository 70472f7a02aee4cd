//! The planner's configuration: what the gateway's `[query]` section sets, and the
//! DataFusion options it sets by default.

/// DataFusion options the gateway sets unless `[query.engine]` says otherwise, each
/// chosen by measurement (`benches/benches/tpch.rs`, SF 1, two cores).
///
/// Build sides up to 32 MiB or a million rows are collected once and shared by every
/// partition (a broadcast join) instead of both sides being hash-repartitioned: TPC-H's
/// dimension joins (nation, supplier, a filtered orders) skip a repartition of the fact
/// side. Medians of three runs of three timings each: Q7 3.52x → 2.56x DuckDB's time,
/// Q5 3.87x → 3.21x, the other queries within the noise; all 22 2.07x → 2.01x.
pub const ENGINE_DEFAULTS: [(&str, &str); 3] = [
    (
        "datafusion.optimizer.hash_join_single_partition_threshold",
        "33554432",
    ),
    (
        "datafusion.optimizer.hash_join_single_partition_threshold_rows",
        "1048576",
    ),
    // DataFusion 53's top-k aggregation drops the NULL group of `SELECT DISTINCT x …
    // ORDER BY x LIMIT n` (apache/datafusion#22554, found by the differential test) and
    // groups whose MIN/MAX is NULL (apache/datafusion#22190); both fixed after 53.
    // Correct answers first: the plain aggregation and a TopK sort answer instead.
    ("datafusion.optimizer.enable_topk_aggregation", "false"),
];

/// Planner settings from the gateway configuration.
#[derive(Debug, Clone)]
pub struct PlannerConfig {
    /// Catalog that two-part and one-part names resolve in.
    pub default_catalog: String,
    /// Schema that one-part names resolve in.
    pub default_schema: String,
    /// DataFusion partitions per query (defaults to the number of cores).
    pub target_partitions: usize,
    /// Rows per record batch.
    pub batch_size: usize,
    /// Iceberg tables read by DataFusion's Parquet scan (catalog's `NativeIcebergScan`).
    pub native_iceberg_scan: bool,
    /// Inner joins of three or more sized tables in the order estimated cheapest
    /// (`join_order.rs`); off: in the order written.
    pub join_reordering: bool,
    /// Memory for the cache of Parquet footers and page indexes, in MiB.
    pub metadata_cache_mb: u64,
    /// DataFusion options (name, value) set on every session before the gateway's own.
    pub engine_options: Vec<(String, String)>,
    /// Prices that turn each query's figures into cost.
    pub prices: crate::PriceList,
    /// Meter every query (bytes read, CPU, memory, cost). Off only to measure what
    /// metering itself costs.
    pub metering: bool,
    /// Per-user and per-role limits on one query.
    pub limits: Vec<crate::QueryLimit>,
    /// Daily and monthly cost budgets per user and per role.
    pub budgets: Vec<crate::Budget>,
    /// The results cache.
    pub results_cache: crate::results_cache::ResultsCacheConfig,
    /// Memory all queries and each query may reserve, and where operators spill.
    pub memory: MemoryLimits,
    /// What figures a principal with a row filter sees, and whether its predicates
    /// prune filtered tables.
    pub statistics: lakegate_security::policy::StatisticsMode,
}

/// What queries' operators may hold in memory, and where they spill beyond it.
///
/// Every query's reservations (hash tables, sort buffers, aggregation state) come from
/// one fair spilling pool of `memory_limit` bytes; each query may hold at most
/// `per_query_memory_limit` of it. An operator that can spill (sort, hash aggregation)
/// writes to `spill_dir` when it reaches either limit; one that cannot (a hash join's
/// build side) fails its query with 53200, and other queries keep running.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryLimits {
    /// Bytes all running queries may reserve together.
    pub memory_limit: usize,
    /// Bytes one query may reserve.
    pub per_query_memory_limit: usize,
    /// Directory of spill files; `None`: the system's temporary directory.
    pub spill_dir: Option<std::path::PathBuf>,
    /// Bytes all spill files may hold together; a query that would spill more fails
    /// with 53200.
    pub spill_max_bytes: u64,
}

impl MemoryLimits {
    /// No limits (tests and tools that embed the planner).
    pub fn unlimited() -> Self {
        Self {
            memory_limit: usize::MAX,
            per_query_memory_limit: usize::MAX,
            spill_dir: None,
            spill_max_bytes: 100 << 30,
        }
    }

    /// The free memory a query needs in the pool before it starts (its share): its own
    /// limit, or a quarter of the pool if that is less, so that a pool whose queries are
    /// all small never queues.
    pub fn admission_share(&self) -> usize {
        self.per_query_memory_limit.min(self.memory_limit / 4)
    }

    /// The memory a sort sets aside for merging its spill files, per partition: a small
    /// part of the query's limit (DataFusion's default, 10 MiB, at most).
    pub fn sort_merge_reservation(&self, partitions: usize) -> usize {
        (self.per_query_memory_limit / (8 * partitions.max(1))).min(10 << 20)
    }
}

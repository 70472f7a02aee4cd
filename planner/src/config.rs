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
pub const ENGINE_DEFAULTS: [(&str, &str); 2] = [
    (
        "datafusion.optimizer.hash_join_single_partition_threshold",
        "33554432",
    ),
    (
        "datafusion.optimizer.hash_join_single_partition_threshold_rows",
        "1048576",
    ),
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
}

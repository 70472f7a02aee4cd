//! Prometheus metrics of the query path, rendered in the text exposition format for
//! the admin endpoint's `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use datafusion::execution::memory_pool::{MemoryLimit, MemoryPool};
use lakegate_catalog::metadata_cache::{
    CacheFigures, CountedFooterCache, iceberg_metadata_figures,
};

use crate::results_cache::ResultCache;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How queries end, as `lakegate_queries_total` labels them.
const STATUSES: [&str; 4] = ["finished", "abandoned", "denied", "failed"];

/// The query series of one protocol, updated without locks: the query path of every
/// session adds to them.
#[derive(Debug, Default)]
struct ProtocolSeries {
    /// Queries by status, in the order of [`STATUSES`].
    queries: [AtomicU64; STATUSES.len()],
    /// Queries whose wall time was at most each bound of [`BUCKETS`].
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// The sum of wall times, in nanoseconds (an atomic float does not exist).
    sum_nanos: AtomicU64,
}

/// One series of the metadata caches: name, type, help, and its figure of a cache.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&CacheFigures) -> u64,
);

/// Counters and gauges of one gateway.
#[derive(Debug, Default)]
pub struct Metrics {
    /// protocol → its queries by status and their latency. Written under the read
    /// lock (the series are atomic); the write lock only adds a protocol.
    protocols: RwLock<BTreeMap<String, ProtocolSeries>>,
    bytes_scanned: AtomicU64,
    rows_returned: AtomicU64,
    /// Cost in the price list's unit (single queries cost fractions of a cent), as
    /// the bits of an `f64`.
    cost: AtomicU64,
    /// Queries holding execution slots (planning or streaming).
    running: AtomicI64,
    /// Queries waiting for a slot.
    queued: AtomicI64,
    /// protocol → open client connections.
    connections: Mutex<BTreeMap<String, i64>>,
    /// Cacheable queries answered from the results cache, and those that were run.
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    /// The hits answered without planning the statement (among `cache_hits`).
    cache_unplanned_hits: AtomicU64,
    /// Executions of prepared statements planned from their kept secured plan, and
    /// the secured plans kept (the first, and again after a snapshot or policy change).
    prepared_plan_reuses: AtomicU64,
    prepared_plans_kept: AtomicU64,
    /// Row-filter lookups planned as lists of values read while planning, or kept
    /// from an earlier statement over the same data; and those with too many values,
    /// left as semi-joins.
    lookup_lists_read: AtomicU64,
    lookup_lists_kept: AtomicU64,
    lookup_semi_joins: AtomicU64,
    /// Queries whose plan ran in stages on distributed workers, and those sent there
    /// whose plan could not be shipped (they ran on the gateway).
    distributed: AtomicU64,
    kept_local: AtomicU64,
    /// The Arrow Flight bytes distributed queries moved between workers and to the
    /// gateway.
    transferred: AtomicU64,
    /// The runtime's cache of Parquet footers (the Iceberg metadata cache is the
    /// process's, read from the catalog crate).
    footers: Option<Arc<CountedFooterCache>>,
    /// The results cache, for its size.
    results: Option<Arc<ResultCache>>,
    /// The memory pool every query reserves from, for what is reserved now.
    memory: Option<Arc<dyn MemoryPool>>,
}

impl Metrics {
    /// Metrics that report `footers` beside the Iceberg metadata cache, and what the
    /// queries hold of `memory`.
    pub(crate) fn with_caches(
        footers: Arc<CountedFooterCache>,
        results: Option<Arc<ResultCache>>,
        memory: Arc<dyn MemoryPool>,
    ) -> Self {
        Self {
            footers: Some(footers),
            results,
            memory: Some(memory),
            ..Self::default()
        }
    }

    /// Counts a finished query.
    pub(crate) fn query_finished(
        &self,
        protocol: &str,
        status: &str,
        seconds: f64,
        bytes_scanned: u64,
        rows_returned: u64,
        cost: f64,
    ) {
        let update = |series: &ProtocolSeries| {
            let status = STATUSES
                .iter()
                .position(|s| *s == status)
                .unwrap_or(STATUSES.len() - 1);
            series.queries[status].fetch_add(1, Ordering::Relaxed);
            for (bucket, bound) in series.buckets.iter().zip(BUCKETS) {
                if seconds <= bound {
                    bucket.fetch_add(1, Ordering::Relaxed);
                }
            }
            series.count.fetch_add(1, Ordering::Relaxed);
            series
                .sum_nanos
                .fetch_add((seconds.max(0.0) * 1e9) as u64, Ordering::Relaxed);
        };
        let known = {
            let protocols = self.protocols.read().unwrap_or_else(|e| e.into_inner());
            protocols.get(protocol).map(update).is_some()
        };
        if !known {
            let mut protocols = self.protocols.write().unwrap_or_else(|e| e.into_inner());
            update(protocols.entry(protocol.to_string()).or_default());
        }
        self.bytes_scanned
            .fetch_add(bytes_scanned, Ordering::Relaxed);
        self.rows_returned
            .fetch_add(rows_returned, Ordering::Relaxed);
        let _ = self
            .cost
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + cost.max(0.0)).to_bits())
            });
    }

    /// A query entered (+1) or left (-1) the running set.
    /// Counts a query that could be cached: a hit or a miss.
    pub(crate) fn results_cache(&self, hit: bool) {
        let counter = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a hit found by the statement, without planning it (also a hit).
    pub(crate) fn results_cache_unplanned_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
        self.cache_unplanned_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// An execution of a prepared statement bound its kept plan (`kept`: the plan was
    /// built for this execution, the first reuse or after a change).
    /// Counts a row-filter lookup evaluated while planning: into a list (`Some`, from
    /// the kept values or not), or left a semi-join (`None`).
    pub(crate) fn lookup_evaluated(&self, listed: Option<bool>) {
        let counter = match listed {
            Some(true) => &self.lookup_lists_kept,
            Some(false) => &self.lookup_lists_read,
            None => &self.lookup_semi_joins,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn prepared_plan(&self, kept: bool) {
        self.prepared_plan_reuses.fetch_add(1, Ordering::Relaxed);
        if kept {
            self.prepared_plans_kept.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A query meant for the distributed workers ran there (`shipped`) or, its plan
    /// holding what cannot travel, on the gateway.
    pub(crate) fn distributed(&self, shipped: bool) {
        match shipped {
            true => &self.distributed,
            false => &self.kept_local,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// A distributed query moved `bytes` across its network boundaries.
    pub(crate) fn distributed_transferred(&self, bytes: u64) {
        self.transferred.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The bytes distributed queries moved across their network boundaries so far.
    pub fn distributed_transferred_bytes(&self) -> u64 {
        self.transferred.load(Ordering::Relaxed)
    }

    /// Queries that ran on distributed workers so far.
    pub fn distributed_queries(&self) -> u64 {
        self.distributed.load(Ordering::Relaxed)
    }

    pub(crate) fn running(&self, delta: i64) {
        self.running.fetch_add(delta, Ordering::Relaxed);
    }

    /// A query started (+1) or stopped (-1) waiting for a slot.
    pub(crate) fn queued(&self, delta: i64) {
        self.queued.fetch_add(delta, Ordering::Relaxed);
    }

    /// A client connection of `protocol` opened (+1) or closed (-1).
    pub fn connection(&self, protocol: &str, delta: i64) {
        *self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(protocol.to_string())
            .or_insert(0) += delta;
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "# HELP lakegate_queries_total Queries that ended, by protocol and status."
        )?;
        writeln!(out, "# TYPE lakegate_queries_total counter")?;
        let protocols = self.protocols.read().unwrap_or_else(|e| e.into_inner());
        for (protocol, series) in protocols.iter() {
            for (status, n) in STATUSES.iter().zip(&series.queries) {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    writeln!(
                        out,
                        "lakegate_queries_total{{protocol=\"{protocol}\",status=\"{status}\"}} {n}"
                    )?;
                }
            }
        }
        writeln!(
            out,
            "# HELP lakegate_query_duration_seconds Wall time of queries, planning to last row."
        )?;
        writeln!(out, "# TYPE lakegate_query_duration_seconds histogram")?;
        for (protocol, series) in protocols.iter() {
            for (bound, n) in BUCKETS.iter().zip(&series.buckets) {
                writeln!(
                    out,
                    "lakegate_query_duration_seconds_bucket{{protocol=\"{protocol}\",le=\"{bound}\"}} {}",
                    n.load(Ordering::Relaxed)
                )?;
            }
            let count = series.count.load(Ordering::Relaxed);
            writeln!(
                out,
                "lakegate_query_duration_seconds_bucket{{protocol=\"{protocol}\",le=\"+Inf\"}} {count}"
            )?;
            writeln!(
                out,
                "lakegate_query_duration_seconds_sum{{protocol=\"{protocol}\"}} {}",
                series.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
            )?;
            writeln!(
                out,
                "lakegate_query_duration_seconds_count{{protocol=\"{protocol}\"}} {count}"
            )?;
        }
        drop(protocols);
        let counter = |out: &mut String, name: &str, help: &str, value: String| {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} counter")?;
            writeln!(out, "{name} {value}")
        };
        counter(
            out,
            "lakegate_bytes_scanned_total",
            "Bytes read from data files by queries.",
            self.bytes_scanned.load(Ordering::Relaxed).to_string(),
        )?;
        counter(
            out,
            "lakegate_rows_returned_total",
            "Rows sent to clients.",
            self.rows_returned.load(Ordering::Relaxed).to_string(),
        )?;
        counter(
            out,
            "lakegate_cost_total",
            "Cost of queries, in the price list's unit.",
            format!("{}", f64::from_bits(self.cost.load(Ordering::Relaxed))),
        )?;
        counter(
            out,
            "lakegate_results_cache_hits_total",
            "Queries answered from the results cache.",
            self.cache_hits.load(Ordering::Relaxed).to_string(),
        )?;
        counter(
            out,
            "lakegate_results_cache_misses_total",
            "Cacheable queries that were run (and their results kept if they fit).",
            self.cache_misses.load(Ordering::Relaxed).to_string(),
        )?;
        counter(
            out,
            "lakegate_results_cache_unplanned_hits_total",
            "Hits answered without planning the statement again (among the hits).",
            self.cache_unplanned_hits
                .load(Ordering::Relaxed)
                .to_string(),
        )?;
        counter(
            out,
            "lakegate_prepared_plan_reuses_total",
            "Executions of prepared statements that bound their kept secured plan instead \
             of planning the SQL again.",
            self.prepared_plan_reuses
                .load(Ordering::Relaxed)
                .to_string(),
        )?;
        counter(
            out,
            "lakegate_prepared_plans_kept_total",
            "Secured plans kept for prepared statements (again after a new snapshot or \
             policy).",
            self.prepared_plans_kept.load(Ordering::Relaxed).to_string(),
        )?;
        counter(
            out,
            "lakegate_lookup_lists_read_total",
            "Row-filter lookups read while planning and planned as lists of values.",
            self.lookup_lists_read.load(Ordering::Relaxed).to_string(),
        )?;
        counter(
            out,
            "lakegate_lookup_lists_kept_total",
            "Row-filter lookups planned as lists of values kept from an earlier \
             statement over the same data.",
            self.lookup_lists_kept.load(Ordering::Relaxed).to_string(),
        )?;
        counter(
            out,
            "lakegate_lookup_semi_joins_total",
            "Row-filter lookups with too many values for a list, planned as semi-joins.",
            self.lookup_semi_joins.load(Ordering::Relaxed).to_string(),
        )?;
        counter(
            out,
            "lakegate_distributed_queries_total",
            "Queries whose secured plan ran in stages on the distributed workers.",
            self.distributed.load(Ordering::Relaxed).to_string(),
        )?;
        counter(
            out,
            "lakegate_distributed_kept_local_total",
            "Queries meant for the distributed workers that ran on the gateway: their plan \
             holds what cannot be shipped (a federated scan, a session function) or has \
             one stage only.",
            self.kept_local.load(Ordering::Relaxed).to_string(),
        )?;
        counter(
            out,
            "lakegate_distributed_transferred_bytes_total",
            "Arrow Flight bytes distributed queries moved across their network boundaries \
             (shuffles and broadcasts between workers, results to the gateway).",
            self.transferred.load(Ordering::Relaxed).to_string(),
        )?;
        let hits = self.cache_hits.load(Ordering::Relaxed) as f64;
        let all = hits + self.cache_misses.load(Ordering::Relaxed) as f64;
        writeln!(
            out,
            "# HELP lakegate_results_cache_hit_ratio Hits over cacheable queries."
        )?;
        writeln!(out, "# TYPE lakegate_results_cache_hit_ratio gauge")?;
        writeln!(
            out,
            "lakegate_results_cache_hit_ratio {}",
            if all > 0.0 { hits / all } else { 0.0 }
        )?;
        let (bytes, entries) = self
            .results
            .as_ref()
            .map_or((0, 0), |cache| (cache.bytes(), cache.entries()));
        writeln!(
            out,
            "# HELP lakegate_results_cache_bytes Memory held by cached results."
        )?;
        writeln!(out, "# TYPE lakegate_results_cache_bytes gauge")?;
        writeln!(out, "lakegate_results_cache_bytes {bytes}")?;
        writeln!(
            out,
            "# HELP lakegate_results_cache_entries Results in the results cache."
        )?;
        writeln!(out, "# TYPE lakegate_results_cache_entries gauge")?;
        writeln!(out, "lakegate_results_cache_entries {entries}")?;
        self.write_metadata_caches(out)?;
        let gauge = |out: &mut String, name: &str, help: &str, value: i64| {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} gauge")?;
            writeln!(out, "{name} {value}")
        };
        gauge(
            out,
            "lakegate_running_queries",
            "Queries planning or streaming their result.",
            self.running.load(Ordering::Relaxed),
        )?;
        gauge(
            out,
            "lakegate_queued_queries",
            "Queries waiting for an execution slot.",
            self.queued.load(Ordering::Relaxed),
        )?;
        if let Some(pool) = &self.memory {
            gauge(
                out,
                "lakegate_memory_reserved_bytes",
                "Memory the running queries' operators hold reserved (hash tables, sorts, \
                 aggregation state).",
                pool.reserved() as i64,
            )?;
            if let MemoryLimit::Finite(limit) = pool.memory_limit() {
                gauge(
                    out,
                    "lakegate_memory_limit_bytes",
                    "The memory all queries may reserve together ([query] memory_limit).",
                    limit as i64,
                )?;
            }
        }
        writeln!(
            out,
            "# HELP lakegate_active_connections Open client connections, by protocol."
        )?;
        writeln!(out, "# TYPE lakegate_active_connections gauge")?;
        for (protocol, n) in self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            writeln!(
                out,
                "lakegate_active_connections{{protocol=\"{protocol}\"}} {n}"
            )?;
        }
        Ok(())
    }

    /// Hits, misses and sizes of the caches of immutable metadata.
    fn write_metadata_caches(&self, out: &mut String) -> std::fmt::Result {
        let mut caches = vec![
            ("iceberg_metadata", iceberg_metadata_figures()),
            (
                "iceberg_snapshots",
                lakegate_catalog::iceberg::snapshot_cache_figures(),
            ),
        ];
        if let Some(footers) = &self.footers {
            caches.push(("parquet_footers", footers.figures()));
        }
        let series: [Series; 4] = [
            (
                "lakegate_metadata_cache_hits_total",
                "counter",
                "Lookups of immutable metadata answered from memory, by cache.",
                |f| f.hits,
            ),
            (
                "lakegate_metadata_cache_misses_total",
                "counter",
                "Lookups of immutable metadata that had to read (or parse) it, by cache.",
                |f| f.misses,
            ),
            (
                "lakegate_metadata_cache_bytes",
                "gauge",
                "Memory held by a metadata cache.",
                |f| f.bytes,
            ),
            (
                "lakegate_metadata_cache_entries",
                "gauge",
                "Entries held by a metadata cache: files, or for iceberg_snapshots parsed snapshots.",
                |f| f.entries,
            ),
        ];
        for (name, kind, help, value) in series {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} {kind}")?;
            for (cache, figures) in &caches {
                writeln!(out, "{name}{{cache=\"{cache}\"}} {}", value(figures))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_finished_at_once_are_all_counted() {
        let metrics = Arc::new(Metrics::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    let protocol = if t % 2 == 0 { "postgres" } else { "flight-sql" };
                    for i in 0..1000 {
                        let status = if i % 10 == 0 { "failed" } else { "finished" };
                        metrics.query_finished(protocol, status, 0.02, 10, 1, 0.25);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        let text = metrics.render();
        for protocol in ["postgres", "flight-sql"] {
            for (status, n) in [("finished", 1800), ("failed", 200)] {
                let line = format!(
                    "lakegate_queries_total{{protocol=\"{protocol}\",status=\"{status}\"}} {n}"
                );
                assert!(text.contains(&line), "{line} in\n{text}");
            }
            // 0.02 s is above the 5 ms and 10 ms bounds, within 25 ms.
            let within = format!(
                "lakegate_query_duration_seconds_bucket{{protocol=\"{protocol}\",le=\"0.025\"}} 2000"
            );
            let above = format!(
                "lakegate_query_duration_seconds_bucket{{protocol=\"{protocol}\",le=\"0.01\"}} 0"
            );
            assert!(text.contains(&within) && text.contains(&above), "{text}");
            let sum = format!("lakegate_query_duration_seconds_sum{{protocol=\"{protocol}\"}} 40");
            assert!(text.contains(&sum), "{sum} in\n{text}");
        }
        assert!(text.contains("lakegate_cost_total 1000\n"), "{text}");
        assert!(
            text.contains("lakegate_bytes_scanned_total 40000\n"),
            "{text}"
        );
    }
}

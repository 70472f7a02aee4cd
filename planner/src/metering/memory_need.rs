//! The memory grant a physical plan needs before it runs. A plan reserves memory when
//! it has operators that hold state proportional to their input (a sort, a grouped or
//! distinct aggregation, a join's build side, a window's partitions); one without them
//! (a point lookup, a scan with a filter, a top-k) streams in a few batches and needs
//! no grant. A plan that reserves is granted what its scans will decode — the bytes
//! they read, from the Iceberg manifests or the files' sizes, times
//! [`DECODED_PER_READ_BYTE`] — at least [`MIN_GRANT`] and at most its share; a plan
//! with a scan that cannot be estimated (a federated source) is granted its share.

use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::sorts::sort::SortExec;

/// Aggregate functions whose state grows with their input, also without groups.
const GROWING_AGGREGATES: [&str; 6] = [
    "array_agg",
    "string_agg",
    "median",
    "percentile_cont",
    "percentile_disc",
    "approx_percentile_cont",
];

/// Operators that collect their input, or a side of it, into memory.
const COLLECTING: [&str; 7] = [
    "HashJoinExec",
    "CrossJoinExec",
    "NestedLoopJoinExec",
    "SortMergeJoinExec",
    "SymmetricHashJoinExec",
    "WindowAggExec",
    "BoundedWindowAggExec",
];

/// Bytes a sort or an aggregation holds per byte of Parquet it reads: the decoded
/// columns (compression and encodings, 2–4×), a sort's sorted copy or an aggregation's
/// hash table over them. Measured: sorting lineitem's three numeric columns at SF 0.1
/// and grouping it by two keys both reach a 32 MiB limit from a few MB read.
pub(crate) const DECODED_PER_READ_BYTE: u64 = 16;
/// The smallest grant of a plan that reserves memory.
pub(crate) const MIN_GRANT: usize = 1 << 20;

/// Leaves whose size the estimate knows (file and Iceberg scans) or that are small and
/// already in memory (catalog and system tables, values).
const KNOWN_LEAVES: [&str; 6] = [
    "DataSourceExec",
    "IcebergTableScan",
    "StreamingTableExec",
    "PlaceholderRowExec",
    "EmptyExec",
    "LazyMemoryExec",
];

/// The bytes `plan` must be granted before it starts (0: none); `estimated`: the
/// bytes its scans read, if already estimated.
pub(crate) async fn memory_need(
    plan: &Arc<dyn ExecutionPlan>,
    share: usize,
    estimated: Option<u64>,
) -> (usize, Option<u64>) {
    if !reserves_memory(plan) {
        return (0, estimated);
    }
    if has_unknown_leaf(plan) {
        return (share, estimated);
    }
    let read = match estimated {
        Some(bytes) => bytes,
        None => match lakegate_catalog::estimate::estimate_plan(plan).await {
            Ok(estimate) => estimate.bytes(),
            Err(error) => {
                tracing::debug!(%error, "no estimate for the memory grant");
                return (share, None);
            }
        },
    };
    let decoded = usize::try_from(read.saturating_mul(DECODED_PER_READ_BYTE)).unwrap_or(usize::MAX);
    (decoded.max(MIN_GRANT).min(share), Some(read))
}

fn has_unknown_leaf(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let children = plan.children();
    if children.is_empty() {
        return !KNOWN_LEAVES.contains(&plan.name());
    }
    children.into_iter().any(has_unknown_leaf)
}

/// Whether any operator of `plan` reserves memory in proportion to its input.
pub(crate) fn reserves_memory(plan: &Arc<dyn ExecutionPlan>) -> bool {
    operator_reserves(plan.as_ref()) || plan.children().into_iter().any(reserves_memory)
}

fn operator_reserves(plan: &dyn ExecutionPlan) -> bool {
    if let Some(sort) = plan.as_any().downcast_ref::<SortExec>() {
        // With a fetch it keeps the top rows only.
        return sort.fetch().is_none();
    }
    if let Some(aggregate) = plan.as_any().downcast_ref::<AggregateExec>() {
        return !aggregate.group_expr().is_empty()
            || aggregate
                .aggr_expr()
                .iter()
                .any(|a| a.is_distinct() || GROWING_AGGREGATES.contains(&a.fun().name()));
    }
    COLLECTING.contains(&plan.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn plan(sql: &str) -> Arc<dyn ExecutionPlan> {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (k INT, v VARCHAR) AS VALUES (1, 'a'), (2, 'b'), (2, 'c')")
            .await
            .expect("create")
            .collect()
            .await
            .expect("created");
        ctx.sql(sql)
            .await
            .expect("plan")
            .create_physical_plan()
            .await
            .expect("physical plan")
    }

    #[tokio::test]
    async fn operators_that_collect_their_input_reserve_memory() {
        for sql in [
            "SELECT * FROM t ORDER BY v",
            "SELECT k, count(*) FROM t GROUP BY k",
            "SELECT count(DISTINCT v) FROM t",
            "SELECT string_agg(v, ',') FROM t",
            "SELECT * FROM t a JOIN t b ON a.k = b.k",
            "SELECT k, row_number() OVER (PARTITION BY k ORDER BY v) FROM t",
        ] {
            assert!(reserves_memory(&plan(sql).await), "{sql}");
        }
    }

    #[tokio::test]
    async fn a_grant_is_what_the_scans_decode_within_the_share() {
        let grouped = plan("SELECT k, count(*) FROM t GROUP BY k").await;
        // Estimated elsewhere: 10 MB read.
        assert_eq!(
            memory_need(&grouped, 1 << 30, Some(10_000_000)).await.0,
            10_000_000 * DECODED_PER_READ_BYTE as usize
        );
        assert_eq!(
            memory_need(&grouped, 32 << 20, Some(10_000_000)).await.0,
            32 << 20
        );
        assert_eq!(memory_need(&grouped, 1 << 30, Some(10)).await.0, MIN_GRANT);
        let streaming = plan("SELECT * FROM t WHERE k = 2").await;
        assert_eq!(
            memory_need(&streaming, 1 << 30, Some(10_000_000)).await.0,
            0
        );
    }

    #[tokio::test]
    async fn streaming_plans_reserve_nothing() {
        for sql in [
            "SELECT * FROM t WHERE k = 2",
            "SELECT count(*), sum(k) FROM t",
            "SELECT * FROM t ORDER BY v LIMIT 1",
            "SELECT upper(v) FROM t",
        ] {
            assert!(!reserves_memory(&plan(sql).await), "{sql}");
        }
    }
}

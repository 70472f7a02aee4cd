//! Whether a physical plan reserves memory as it runs: the operators that hold state
//! proportional to their input (a sort, a grouped or distinct aggregation, a join's
//! build side, a window's partitions). Such a query waits for a memory grant before it
//! starts; one without them (a point lookup, a scan with a filter, a top-k) streams in
//! a few batches and needs none.

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

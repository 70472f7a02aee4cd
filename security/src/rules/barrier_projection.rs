//! Moves a projection of bare columns from above the policy barrier to below it, so the
//! barrier passes on only the columns its parent reads.
//!
//! DataFusion's projection pruning routes the columns a parent needs through the barrier
//! but adds no projection under it, so a row filter's own column (`c_nationkey` of
//! `c_nationkey IN (…)`) stays in the barrier's output and a projection above drops it.
//! Filter pushdown then moves the user's filter under that projection and projection
//! pruning moves it back, pass after pass: the optimizer never settles before its last
//! pass, and every governed scan costs each rule more. Below the barrier the projection
//! selects columns and evaluates nothing, so no value of a hidden row can reach it
//! earlier than before; predicates still never cross.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, Projection};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::barrier::PolicyBarrier;

/// The optimizer rule; runs right after DataFusion's projection pruning.
#[derive(Debug, Default)]
pub struct ProjectBelowBarrier;

impl OptimizerRule for ProjectBelowBarrier {
    fn name(&self) -> &str {
        "project_below_policy_barrier"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Projection(projection) = &plan else {
            return Ok(Transformed::no(plan));
        };
        let LogicalPlan::Extension(extension) = projection.input.as_ref() else {
            return Ok(Transformed::no(plan));
        };
        let Some(barrier) = extension.node.as_any().downcast_ref::<PolicyBarrier>() else {
            return Ok(Transformed::no(plan));
        };
        // Only a selection of the barrier's columns, each named as it is below.
        let columns: Option<Vec<&str>> = projection
            .expr
            .iter()
            .map(|expr| match expr {
                Expr::Column(column) => Some(column.name.as_str()),
                _ => None,
            })
            .collect();
        let Some(columns) = columns else {
            return Ok(Transformed::no(plan));
        };
        let below = LogicalPlan::Projection(Projection::try_new_with_schema(
            projection.expr.clone(),
            Arc::new(barrier.input().clone()),
            projection.schema.clone(),
        )?);
        let masked = barrier
            .masked()
            .iter()
            .filter(|name| columns.contains(&name.as_str()))
            .cloned()
            .collect();
        Ok(Transformed::yes(LogicalPlan::Extension(Extension {
            node: Arc::new(PolicyBarrier::new(below, masked)),
        })))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::logical_expr::{LogicalPlanBuilder, col, lit, table_scan};
    use datafusion::optimizer::OptimizerContext;

    use super::*;

    /// `t(key, region, secret)` filtered on `region` behind a barrier masking `secret`.
    fn governed() -> LogicalPlan {
        let schema = Schema::new(vec![
            Field::new("key", DataType::Int64, false),
            Field::new("region", DataType::Int64, false),
            Field::new("secret", DataType::Utf8, false),
        ]);
        let secured = table_scan(Some("t"), &schema, None)
            .and_then(|scan| scan.filter(col("region").in_list(vec![lit(1i64), lit(2i64)], false)))
            .and_then(LogicalPlanBuilder::build)
            .expect("secured scan");
        LogicalPlan::Extension(Extension {
            node: Arc::new(PolicyBarrier::new(secured, vec!["secret".into()])),
        })
    }

    fn rewrite(plan: LogicalPlan) -> Transformed<LogicalPlan> {
        ProjectBelowBarrier
            .rewrite(plan, &OptimizerContext::new())
            .expect("rewrite")
    }

    #[test]
    fn a_selection_of_columns_moves_below_the_barrier_with_its_masks() {
        let plan = LogicalPlanBuilder::from(governed())
            .project(vec![col("key"), col("secret")])
            .and_then(LogicalPlanBuilder::build)
            .expect("projection");
        let schema = plan.schema().clone();
        let rewritten = rewrite(plan);
        assert!(rewritten.transformed);
        let LogicalPlan::Extension(extension) = &rewritten.data else {
            panic!("a barrier on top: {}", rewritten.data.display_indent());
        };
        let barrier = extension
            .node
            .as_any()
            .downcast_ref::<PolicyBarrier>()
            .expect("the policy barrier");
        assert_eq!(rewritten.data.schema(), &schema, "the same output");
        assert_eq!(barrier.masked(), ["secret".to_string()]);
        // Below the barrier: the projection, then the policy's filter, untouched.
        let LogicalPlan::Projection(below) = barrier.input() else {
            panic!("{}", barrier.input().display_indent());
        };
        assert!(matches!(below.input.as_ref(), LogicalPlan::Filter(_)));

        // A mask's column not selected is no longer the barrier's.
        let plan = LogicalPlanBuilder::from(governed())
            .project(vec![col("key")])
            .and_then(LogicalPlanBuilder::build)
            .expect("projection");
        let rewritten = rewrite(plan);
        let LogicalPlan::Extension(extension) = &rewritten.data else {
            panic!("{}", rewritten.data.display_indent());
        };
        let barrier = extension.node.as_any().downcast_ref::<PolicyBarrier>();
        assert_eq!(barrier.map(PolicyBarrier::masked), Some(&[][..]));
    }

    #[test]
    fn a_projection_that_computes_stays_above_the_barrier() {
        let plan = LogicalPlanBuilder::from(governed())
            .project(vec![col("key") + lit(1i64)])
            .and_then(LogicalPlanBuilder::build)
            .expect("projection");
        let rewritten = rewrite(plan);
        assert!(!rewritten.transformed);
        assert!(matches!(rewritten.data, LogicalPlan::Projection(_)));
    }
}

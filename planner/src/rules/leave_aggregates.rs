//! A DataFusion optimizer rule that leaves some aggregations alone: the rule rewrites
//! every other node as before. Used where one of DataFusion 53's rules changes the
//! answer of an aggregation over an empty input (`group_by_constant`, `grand_total`).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::logical_expr::{Aggregate, LogicalPlan};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// `rule`, except on the aggregations for which `leave` is true.
#[derive(Debug)]
pub(crate) struct LeaveAggregates {
    rule: Arc<dyn OptimizerRule + Send + Sync>,
    leave: fn(&Aggregate) -> bool,
}

impl LeaveAggregates {
    pub(crate) fn new(
        rule: Arc<dyn OptimizerRule + Send + Sync>,
        leave: fn(&Aggregate) -> bool,
    ) -> Self {
        Self { rule, leave }
    }
}

impl OptimizerRule for LeaveAggregates {
    fn name(&self) -> &str {
        self.rule.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.rule.apply_order()
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if let LogicalPlan::Aggregate(aggregate) = &plan
            && (self.leave)(aggregate)
        {
            return Ok(Transformed::no(plan));
        }
        self.rule.rewrite(plan, config)
    }
}

//! Cancellation points in physical plans.
//!
//! A cancelled statement drops its stream, and DataFusion aborts the tasks it spawned —
//! but a task stops only when it next yields. Scans that never return `Pending` (data
//! already buffered) and joins that emit many batches per input batch can keep a task
//! busy until the whole query is done: the client hears 57014 while a core keeps
//! working. Wrapping leaves and joins in `CooperativeExec` makes every batch they emit
//! spend tokio's cooperative budget, so the task yields (and an abort lands) within a
//! bounded number of batches.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;

/// Wraps scans and joins so that cancelled statements stop promptly.
#[derive(Debug, Default)]
pub(crate) struct CancelPoints;

impl PhysicalOptimizerRule for CancelPoints {
    fn name(&self) -> &str {
        "lakegate_cancel_points"
    }

    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if node.as_any().is::<CooperativeExec>() {
                return Ok(Transformed::no(node));
            }
            let is_leaf = node.children().is_empty();
            let is_join = node.name().contains("Join");
            if is_leaf || is_join {
                return Ok(Transformed::yes(Arc::new(CooperativeExec::new(node)) as _));
            }
            Ok(Transformed::no(node))
        })
        .data()
    }

    fn schema_check(&self) -> bool {
        true
    }
}

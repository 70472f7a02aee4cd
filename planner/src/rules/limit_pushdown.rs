//! DataFusion's `LimitPushdown` physical rule, driven so that an OFFSET is applied once.
//!
//! DataFusion 53.1 walks the plan carrying the pending skip and fetch. When an outer
//! OFFSET without LIMIT meets an operator that does not pass limits down (a sort), it
//! puts a `GlobalLimitExec` (the OFFSET) above that operator — but keeps the skip in
//! the state it carries into the operator's inputs, where an inner LIMIT then applies
//! it a second time: `SELECT count(*) FROM (SELECT * FROM (SELECT n_nationkey FROM
//! nation LIMIT 100) t ORDER BY 1 OFFSET 5) x` counted 15 rows instead of 20
//! (apache/datafusion#22489, fixed upstream after 53.1 by #22525).
//!
//! This rule replaces DataFusion's: the same per-node step (DataFusion's public
//! `pushdown_limit_helper`), walked by our own recursion, which starts the inputs of an
//! OFFSET that has just been placed from a clean state.

use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::limit_pushdown::{GlobalRequirements, pushdown_limit_helper};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::limit::GlobalLimitExec;

/// The rule, named as DataFusion's so that it takes its place.
#[derive(Debug, Default)]
pub(crate) struct LimitPushdown;

impl PhysicalOptimizerRule for LimitPushdown {
    fn name(&self) -> &str {
        "LimitPushdown"
    }

    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        push_down(plan, GlobalRequirements::default())
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn push_down(
    plan: Arc<dyn ExecutionPlan>,
    requirements: GlobalRequirements,
) -> Result<Arc<dyn ExecutionPlan>> {
    // Limits directly above one another fold into one requirement.
    let (mut node, mut requirements) = pushdown_limit_helper(plan, requirements)?;
    while node.tnr == TreeNodeRecursion::Stop {
        (node, requirements) = pushdown_limit_helper(node.data, requirements)?;
    }
    // An OFFSET-only limit the step has just placed handles the skip: nothing below it
    // may apply the skip again.
    if node.transformed && is_offset_only(&node.data) {
        requirements = GlobalRequirements::default();
    }
    let plan = node.data;
    let children = plan
        .children()
        .into_iter()
        .map(|child| push_down(Arc::clone(child), requirements.clone()))
        .collect::<Result<Vec<_>>>()?;
    plan.with_new_children(children)
}

fn is_offset_only(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.as_any()
        .downcast_ref::<GlobalLimitExec>()
        .is_some_and(|limit| limit.skip() > 0 && limit.fetch().is_none())
}

//! The gateway's side of a distributed query: whether its secured physical plan can run
//! on the workers, the plan cut into stages when it can, and the workers' scan figures
//! added to the query's meter when it has run.

use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_distributed::{
    DistributedExec, DistributedMetricsFormat, DistributedPhysicalOptimizerRule,
    rewrite_distributed_plan_with_metrics,
};
use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;
use lakegate_catalog::figures_from_metrics;
use lakegate_catalog::metering::ScanMeter;

use super::codec::GatewayCodec;

/// `plan` cut into stages for the workers `config` names (datafusion-distributed's
/// worker resolver), or `None` when it runs on the gateway: it holds a node or a
/// function the workers cannot run as the gateway would (the reason is logged), or it
/// has nothing to spread (a single stage).
pub fn distribute(
    plan: &Arc<dyn ExecutionPlan>,
    config: &ConfigOptions,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if let Err(reason) = physical_plan_to_bytes_with_extension_codec(plan.clone(), &GatewayCodec) {
        tracing::debug!(%reason, "the plan runs on the gateway");
        return Ok(None);
    }
    let staged = DistributedPhysicalOptimizerRule.optimize(plan.clone(), config)?;
    Ok(staged.as_any().is::<DistributedExec>().then_some(staged))
}

/// Adds to `meter` what the workers' scan counters of the executed `staged` plan
/// reported (the gateway's own counters count into it directly).
pub fn add_worker_figures(staged: Arc<dyn ExecutionPlan>, meter: &ScanMeter) -> Result<()> {
    let measured =
        rewrite_distributed_plan_with_metrics(staged, DistributedMetricsFormat::Aggregated)?;
    measured.apply(|node| {
        if node.name() == "MeteredScanExec"
            && let Some(metrics) = node.metrics()
        {
            meter.add_figures(&figures_from_metrics(&metrics));
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}

//! The gateway's side of a distributed query: whether its secured physical plan can run
//! on the workers, the plan cut into stages when it can, and the workers' scan figures
//! added to the query's meter when it has run.

use std::sync::Arc;

use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::{MetricValue, MetricsSet};
use datafusion_distributed::{
    DistributedExec, DistributedMetricsFormat, DistributedPhysicalOptimizerRule,
    NetworkBoundaryExt, rewrite_distributed_plan_with_metrics,
};
use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;
use lakegate_catalog::figures_from_metrics;
use lakegate_catalog::metering::ScanMeter;

use super::build_sides::{collected_build_sides_whole, partition_emitted_build_sides};
use super::codec::GatewayCodec;

/// `plan` cut into stages for the workers `config` names (datafusion-distributed's
/// worker resolver), or `None` when it runs on the gateway: it holds a node or a
/// function the workers cannot run as the gateway would, a join that would not see its
/// whole build side however it is cut (the reason is logged), or it has nothing to
/// spread (a single stage).
pub fn distribute(
    plan: &Arc<dyn ExecutionPlan>,
    config: &ConfigOptions,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    // Encoded once here with the gateway's codec alone: datafusion-distributed composes
    // its own codec first, which accepts every function by name, so only this encoding
    // refuses a node or a function the workers would not run as the gateway does.
    if let Err(reason) = physical_plan_to_bytes_with_extension_codec(plan.clone(), &GatewayCodec) {
        tracing::debug!(%reason, "the plan runs on the gateway");
        return Ok(None);
    }
    let mut staged = DistributedPhysicalOptimizerRule.optimize(plan.clone(), config)?;
    if let Err(reason) = collected_build_sides_whole(&staged, 1) {
        // A join that emits its build side's rows cannot have it broadcast: hash both
        // of its sides on the keys instead, and cut that plan.
        let Some(partitioned) = partition_emitted_build_sides(plan, config)? else {
            tracing::debug!(%reason, "the plan runs on the gateway");
            return Ok(None);
        };
        staged = DistributedPhysicalOptimizerRule.optimize(partitioned, config)?;
        if let Err(reason) = collected_build_sides_whole(&staged, 1) {
            tracing::debug!(%reason, "the plan runs on the gateway");
            return Ok(None);
        }
    }
    Ok(staged.as_any().is::<DistributedExec>().then_some(staged))
}

/// What the workers did for one query, beyond the scan figures.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerWork {
    /// The compute time of the operators the workers ran, in nanoseconds.
    pub cpu_nanos: u64,
    /// The Arrow Flight bytes that crossed the network boundaries: worker to worker
    /// (shuffles, broadcasts) and workers to the gateway.
    pub transferred_bytes: u64,
}

/// Adds to `meter` what the workers' scan counters of the executed `staged` plan
/// reported (the gateway's own counters count into it directly), and returns what
/// else the workers did.
pub fn add_worker_figures(staged: Arc<dyn ExecutionPlan>, meter: &ScanMeter) -> Result<WorkerWork> {
    let measured =
        rewrite_distributed_plan_with_metrics(staged, DistributedMetricsFormat::Aggregated)?;
    let mut work = WorkerWork::default();
    add_below(&measured, false, meter, &mut work);
    Ok(work)
}

/// Adds `node`'s figures and those of its inputs; `on_worker`: beneath a network
/// boundary, so run by a worker.
fn add_below(
    node: &Arc<dyn ExecutionPlan>,
    on_worker: bool,
    meter: &ScanMeter,
    work: &mut WorkerWork,
) {
    let on_worker = on_worker || node.is_network_boundary();
    if node.is_network_boundary()
        && let Some(metrics) = node.metrics()
    {
        work.transferred_bytes += transferred_bytes(&metrics);
    }
    if on_worker
        && !node.is_network_boundary()
        && let Some(metrics) = node.metrics()
    {
        if node.name() == "MeteredScanExec" {
            meter.add_figures(&figures_from_metrics(&metrics));
        }
        work.cpu_nanos += metrics.elapsed_compute().unwrap_or(0) as u64;
    }
    for child in node.children() {
        add_below(child, on_worker, meter, work);
    }
}

/// The bytes a network boundary's reads received (datafusion-distributed's
/// `bytes_transferred`, summed over its tasks and partitions).
fn transferred_bytes(metrics: &MetricsSet) -> u64 {
    metrics
        .iter()
        .filter_map(|metric| match metric.value() {
            MetricValue::Custom { name, value } if name == "bytes_transferred" => {
                Some(value.as_usize() as u64)
            }
            _ => None,
        })
        .sum()
}

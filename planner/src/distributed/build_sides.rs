//! Joins that collect a whole build side, in a plan cut into stages: whether each of
//! them still sees all of it ([`collected_build_sides_whole`]), and the joins that emit
//! their build side's rows turned into joins of two hash-partitioned sides
//! ([`partition_emitted_build_sides`]), which travel where a broadcast cannot.

use std::sync::Arc;

use datafusion::common::JoinType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::sanity_checker::SanityCheckPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PartitionMode,
};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning, PhysicalExpr};
use datafusion_distributed::{NetworkBoundaryExt, NetworkBroadcastExec};

/// Whether every join that collects its build side sees all of it: in a stage of more
/// than one task, a `CollectLeft` hash join must have its build side broadcast to every
/// task, and a nested-loop or cross join cannot run at all. datafusion-distributed 1.0
/// slices such a build side across the tasks like any scan, so each task would join a
/// part of it and rows would be lost or repeated (its issue #563, fixed in releases for
/// DataFusion 54). `tasks`: those of `node`'s stage; `Err` says which join would not.
pub(super) fn collected_build_sides_whole(
    node: &Arc<dyn ExecutionPlan>,
    tasks: usize,
) -> std::result::Result<(), String> {
    let tasks = match node.as_network_boundary() {
        Some(boundary) => boundary.input_stage().tasks.len(),
        None => tasks,
    };
    if tasks > 1 && !node.is_network_boundary() {
        let any = node.as_any();
        if let Some(join) = any.downcast_ref::<HashJoinExec>()
            && *join.partition_mode() == PartitionMode::CollectLeft
            && !is_broadcast(join.left())
        {
            return Err(format!(
                "a {} hash join would see part of its build side in each of {tasks} tasks",
                join.join_type()
            ));
        }
        if any.is::<NestedLoopJoinExec>() || any.is::<CrossJoinExec>() {
            return Err(format!(
                "{} would see part of its build side in each of {tasks} tasks",
                node.name()
            ));
        }
    }
    node.children()
        .into_iter()
        .try_for_each(|child| collected_build_sides_whole(child, tasks))
}

/// Whether a build side comes whole to every task (datafusion-distributed's broadcast,
/// under the coalescing it keeps above it).
fn is_broadcast(build: &Arc<dyn ExecutionPlan>) -> bool {
    let mut node = build;
    loop {
        let any = node.as_any();
        if any.is::<NetworkBroadcastExec>() {
            return true;
        }
        if !(any.is::<CoalescePartitionsExec>() || any.is::<CooperativeExec>()) {
            return false;
        }
        match node.children().first() {
            Some(child) => node = child,
            None => return false,
        }
    }
}

/// Whether a join of this type outputs rows of its build side: then every task must
/// hold the build rows only it answers for, so the build side cannot be broadcast
/// (each task would emit the unmatched ones again), and datafusion-distributed leaves
/// such a join collecting whatever part of the build side its task reads.
fn emits_build_rows(join_type: JoinType) -> bool {
    matches!(
        join_type,
        JoinType::Left
            | JoinType::LeftSemi
            | JoinType::LeftAnti
            | JoinType::LeftMark
            | JoinType::Full
    )
}

/// `plan` with every `CollectLeft` hash join that emits its build side's rows turned
/// into a `Partitioned` one: both sides hash-repartitioned on the join keys into
/// `target_partitions` partitions, which become shuffles between stages, so each task
/// joins the build and probe rows of the same keys, as Trino runs an outer join it
/// cannot broadcast. `None` when there is no such join, or when the result would not
/// satisfy every operator's required distribution and ordering (DataFusion's sanity
/// check; the joins turned do not keep either input's order, so nothing above them
/// relied on one). A null-aware anti join (`NOT IN`) is kept: it must see every probe
/// row's NULL, which only the collected mode does.
pub(super) fn partition_emitted_build_sides(
    plan: &Arc<dyn ExecutionPlan>,
    config: &ConfigOptions,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let partitions = config.execution.target_partitions.max(1);
    let turned = Arc::clone(plan).transform_up(|node| {
        let Some(join) = node.as_any().downcast_ref::<HashJoinExec>() else {
            return Ok(Transformed::no(node));
        };
        if *join.partition_mode() != PartitionMode::CollectLeft
            || !emits_build_rows(*join.join_type())
            || join.null_aware
        {
            return Ok(Transformed::no(node));
        }
        let (left_keys, right_keys): (Vec<_>, Vec<_>) = join.on().iter().cloned().unzip();
        let left = hashed(without_coalescing(join.left()), left_keys, partitions)?;
        let right = hashed(Arc::clone(join.right()), right_keys, partitions)?;
        let partitioned = join
            .builder()
            .with_partition_mode(PartitionMode::Partitioned)
            .with_new_children(vec![left, right])?
            .reset_state()
            .build_exec()?;
        Ok(Transformed::yes(partitioned))
    })?;
    if !turned.transformed {
        return Ok(None);
    }
    match SanityCheckPlan::new().optimize(turned.data, config) {
        Ok(checked) => Ok(Some(checked)),
        Err(reason) => {
            tracing::debug!(%reason, "the joins cannot be partitioned");
            Ok(None)
        }
    }
}

/// A build side without the coalescing that gathered it into one partition.
fn without_coalescing(build: &Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    match build.as_any().downcast_ref::<CoalescePartitionsExec>() {
        Some(coalesce) => Arc::clone(coalesce.input()),
        None => Arc::clone(build),
    }
}

/// `input` hash-repartitioned on `keys`.
fn hashed(
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    partitions: usize,
) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(Arc::new(RepartitionExec::try_new(
        input,
        Partitioning::Hash(keys, partitions),
    )?))
}

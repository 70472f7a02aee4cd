//! The policy barrier: a plan node that keeps the user's predicates above a row filter.
//!
//! Without it the optimizer may merge a user's `WHERE` into the policy's filter (or
//! push it into the scan) and evaluate it on rows the policy hides; an expression that
//! errors on some values (a cast, a division) would then reveal hidden rows through its
//! error. Like PostgreSQL's security barrier views, the barrier makes the policy filter
//! run first. It passes columns through, so projections still reach the scan.

use std::any::Any;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::{DFSchemaRef, Result, internal_err};
use datafusion::execution::context::{QueryPlanner, SessionState};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    Expr, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

/// The logical barrier above a secured scan.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PolicyBarrier {
    input: LogicalPlan,
    /// Output columns whose values are masks: predicates on them never cross.
    masked: Vec<String>,
}

impl PolicyBarrier {
    /// A barrier over a secured subtree whose `masked` columns carry masks.
    pub fn new(input: LogicalPlan, masked: Vec<String>) -> Self {
        Self { input, masked }
    }

    /// The secured subtree.
    pub fn input(&self) -> &LogicalPlan {
        &self.input
    }

    /// Columns that carry masks.
    pub fn masked(&self) -> &[String] {
        &self.masked
    }
}

/// The node alone, not the subtree below it: DataFusion's physical planner formats every
/// extension node it plans (for an error message it may never show), and the derived
/// form printed the whole secured subtree, schemas and all, once per barrier per
/// statement.
impl fmt::Debug for PolicyBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyBarrier")
            .field("masked", &self.masked)
            .finish_non_exhaustive()
    }
}

impl PartialOrd for PolicyBarrier {
    fn partial_cmp(&self, _other: &Self) -> Option<Ordering> {
        None
    }
}

impl UserDefinedLogicalNodeCore for PolicyBarrier {
    fn name(&self) -> &str {
        "PolicyBarrier"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PolicyBarrier")
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        match inputs.pop() {
            Some(input) if inputs.is_empty() => Ok(Self {
                input,
                masked: self.masked.clone(),
            }),
            _ => internal_err!("PolicyBarrier takes exactly one input"),
        }
    }

    // Every column is protected from predicate pushdown (the trait's default), but
    // projections pass through unchanged.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![output_columns.to_vec()])
    }
}

/// The physical barrier: passes batches through, refuses filter pushdown.
#[derive(Debug)]
pub struct PolicyBarrierExec {
    input: Arc<dyn ExecutionPlan>,
}

impl PolicyBarrierExec {
    /// A barrier over `input` (as a worker rebuilds it from a shipped plan).
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        Self { input }
    }
}

impl DisplayAs for PolicyBarrierExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PolicyBarrierExec")
    }
}

impl ExecutionPlan for PolicyBarrierExec {
    fn name(&self) -> &'static str {
        "PolicyBarrierExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(Self { input })),
            _ => internal_err!("PolicyBarrierExec takes exactly one child"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

/// Plans [`PolicyBarrier`] nodes.
#[derive(Debug, Default)]
pub struct BarrierPlanner;

#[async_trait]
impl ExtensionPlanner for BarrierPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &SessionState,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if node.as_any().downcast_ref::<PolicyBarrier>().is_none() {
            return Ok(None);
        }
        match physical_inputs {
            [input] => Ok(Some(Arc::new(PolicyBarrierExec {
                input: input.clone(),
            }))),
            _ => internal_err!("PolicyBarrier takes exactly one input"),
        }
    }
}

/// The session's query planner: DataFusion's, plus the barrier and any other extension
/// planners the gateway adds (federated sub-plans).
#[derive(Default)]
pub struct GatewayQueryPlanner {
    others: Vec<Arc<dyn ExtensionPlanner + Send + Sync>>,
}

impl std::fmt::Debug for GatewayQueryPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayQueryPlanner")
            .field("others", &self.others.len())
            .finish()
    }
}

impl GatewayQueryPlanner {
    /// The barrier's planner and `others`.
    pub fn with_planners(others: Vec<Arc<dyn ExtensionPlanner + Send + Sync>>) -> Self {
        Self { others }
    }
}

#[async_trait]
impl QueryPlanner for GatewayQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &SessionState,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut planners: Vec<Arc<dyn ExtensionPlanner + Send + Sync>> =
            vec![Arc::new(BarrierPlanner)];
        planners.extend(self.others.iter().cloned());
        DefaultPhysicalPlanner::with_extension_planners(planners)
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}

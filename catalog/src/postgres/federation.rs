//! datafusion-federation for a PostgreSQL catalog: the largest sub-plans over its tables
//! (scans with their filters, projections, limits, aggregates, sorts and joins within the
//! same database) become one SQL query run by PostgreSQL. The federated node is planned
//! by datafusion-federation's SQL planner; ours only adds the row counter of the query's
//! meter above it (rows transferred from the source).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DFResult;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::optimizer::optimizer::Optimizer;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_federation::sql::{SQLExecutor, SQLFederationPlanner, SQLFederationProvider};
use datafusion_federation::{FederatedPlanNode, FederationPlanner};

use crate::metering::ScanMeter;
use crate::scan_counter::CountRowsExec;

/// The federation provider of one database: its executor, and an optimizer that wraps
/// each federated sub-plan for our planner.
pub fn provider(executor: Arc<dyn SQLExecutor>) -> Arc<SQLFederationProvider> {
    let planner = Arc::new(MeteredSqlPlanner {
        inner: SQLFederationPlanner::new(executor.clone()),
    });
    Arc::new(SQLFederationProvider {
        optimizer: Arc::new(Optimizer::with_rules(vec![Arc::new(Federate { planner })])),
        executor,
    })
}

/// Plans a federated sub-plan as SQL, counting the rows it returns.
#[derive(Debug)]
struct MeteredSqlPlanner {
    inner: SQLFederationPlanner,
}

#[async_trait]
impl FederationPlanner for MeteredSqlPlanner {
    async fn plan_federation(
        &self,
        node: &FederatedPlanNode,
        session_state: &SessionState,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.plan_federation(node, session_state).await?;
        Ok(match session_state.config().get_extension::<ScanMeter>() {
            Some(meter) => Arc::new(CountRowsExec::new(plan, meter)),
            None => plan,
        })
    }
}

/// Replaces a sub-plan that the database can run with a federated node.
///
/// Extension nodes cannot be written as SQL, and one of them, the policy barrier, must
/// not be: it keeps a user's predicates from running before a row filter. Below such a
/// node each input is federated on its own (the row filter and masks run in the
/// database); the node and what is above it run in the gateway.
#[derive(Debug)]
struct Federate {
    planner: Arc<MeteredSqlPlanner>,
}

impl Federate {
    fn federate(&self, plan: LogicalPlan) -> DFResult<LogicalPlan> {
        if matches!(&plan, LogicalPlan::Extension(Extension { node }) if node.name() == "Federated")
        {
            return Ok(plan);
        }
        let has_extension = plan.exists(|n| Ok(matches!(n, LogicalPlan::Extension(_))))?;
        if !has_extension {
            let scans = plan.exists(|n| Ok(matches!(n, LogicalPlan::TableScan(_))))?;
            if !scans {
                return Ok(plan);
            }
            return Ok(LogicalPlan::Extension(Extension {
                node: Arc::new(FederatedPlanNode::new(plan, self.planner.clone())),
            }));
        }
        let inputs = plan
            .inputs()
            .into_iter()
            .map(|input| self.federate(input.clone()))
            .collect::<DFResult<Vec<_>>>()?;
        match plan {
            LogicalPlan::Extension(Extension { node }) => {
                let node = node.with_exprs_and_inputs(node.expressions(), inputs)?;
                Ok(LogicalPlan::Extension(Extension { node }))
            }
            other => other.with_new_exprs(other.expressions(), inputs),
        }
    }
}

impl OptimizerRule for Federate {
    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> DFResult<Transformed<LogicalPlan>> {
        if let LogicalPlan::Extension(Extension { node }) = &plan
            && node.name() == "Federated"
        {
            return Ok(Transformed::no(plan));
        }
        self.federate(plan).map(Transformed::yes)
    }

    fn name(&self) -> &str {
        "federate_postgres"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }
}

//! How the gateway's own plan nodes travel to distributed workers (a datafusion-proto
//! extension codec), and which functions may travel with them.
//!
//! The secured plan ships whole: the policy barrier, the read schema of Iceberg scans,
//! the grand total of an aggregation, and each scan's row counter, which a worker
//! rebuilds over a meter of its own (reported back as metrics). A node this codec does
//! not know (a federated source's remote scan, a write) fails the encoding, and the
//! query runs on the gateway: a plan is never shipped without its policy.
//!
//! Functions travel by name and are resolved in the worker's registry
//! ([`worker_functions`]: DataFusion's and the PostgreSQL-compatible ones). A function
//! whose answer depends on the session (`current_user`, privilege checks, catalog
//! lookups) is not in it; nor is any implementation that differs from the worker's
//! under the same name. Such a plan is refused, so it runs on the gateway.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::common::{Result, internal_err, not_impl_err};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use lakegate_catalog::CountRowsExec;
use lakegate_catalog::iceberg::{is_read_schema, without_scan_metadata};
use lakegate_security::rules::PolicyBarrierExec;

use crate::ipc_batch::{decode_batch, encode_batch};
use crate::rules::grand_total::GrandTotalExec;

const BARRIER: u8 = 1;
const READ_SCHEMA: u8 = 2;
const COUNT_ROWS: u8 = 3;
const GRAND_TOTAL: u8 = 4;

/// The functions a worker resolves shipped expressions with, by name: DataFusion's,
/// the PostgreSQL-compatible ones over their namesakes (`avg` of a numeric is
/// PostgreSQL's on a worker too), and those the PostgreSQL rules write into plans
/// (`int8mi`, `numeric_div`).
#[derive(Debug)]
pub struct WorkerFunctions {
    pub scalar: HashMap<String, Arc<ScalarUDF>>,
    pub aggregate: HashMap<String, Arc<AggregateUDF>>,
    pub window: HashMap<String, Arc<WindowUDF>>,
}

/// The functions every worker has.
pub fn worker_functions() -> &'static WorkerFunctions {
    static FUNCTIONS: OnceLock<WorkerFunctions> = OnceLock::new();
    FUNCTIONS.get_or_init(|| {
        let ctx = SessionContext::new();
        lakegate_pg_compat::functions::register(&ctx);
        for function in lakegate_pg_compat::functions::planned_functions() {
            ctx.register_udf(function);
        }
        let state = ctx.state();
        WorkerFunctions {
            scalar: state.scalar_functions().clone(),
            aggregate: state.aggregate_functions().clone(),
            window: state.window_functions().clone(),
        }
    })
}

/// Encodes and decodes the gateway's plan nodes.
#[derive(Debug, Default)]
pub struct GatewayCodec;

impl PhysicalExtensionCodec for GatewayCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = inputs else {
            return internal_err!(
                "a gateway plan node has one input, the shipped plan gave {}",
                inputs.len()
            );
        };
        let input = input.clone();
        match buf.split_first() {
            Some((&BARRIER, [])) => Ok(Arc::new(PolicyBarrierExec::new(input))),
            Some((&READ_SCHEMA, [])) => without_scan_metadata(input),
            Some((&COUNT_ROWS, [])) => Ok(Arc::new(CountRowsExec::on_worker(
                input,
                ctx.runtime_env().as_ref(),
            )?)),
            Some((&GRAND_TOTAL, rows)) => {
                Ok(Arc::new(GrandTotalExec::new(input, decode_batch(rows)?)))
            }
            _ => internal_err!("not a plan node this gateway's workers know"),
        }
    }

    fn try_encode(&self, node: Arc<dyn ExecutionPlan>, buf: &mut Vec<u8>) -> Result<()> {
        let any = node.as_any();
        if any.is::<PolicyBarrierExec>() {
            buf.push(BARRIER);
        } else if is_read_schema(node.as_ref()) {
            buf.push(READ_SCHEMA);
        } else if any.is::<CountRowsExec>() {
            buf.push(COUNT_ROWS);
        } else if let Some(total) = any.downcast_ref::<GrandTotalExec>() {
            buf.push(GRAND_TOTAL);
            buf.extend(encode_batch(total.empty_input_rows())?);
        } else {
            return not_impl_err!(
                "{} cannot run on a distributed worker; the query runs on the gateway",
                node.name()
            );
        }
        Ok(())
    }

    fn try_encode_udf(&self, node: &ScalarUDF, _buf: &mut Vec<u8>) -> Result<()> {
        let worker = worker_functions().scalar.get(node.name());
        shippable(
            node.name(),
            worker.map(|w| w.inner().as_any().type_id()),
            node.inner().as_any().type_id(),
        )
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, _buf: &mut Vec<u8>) -> Result<()> {
        let worker = worker_functions().aggregate.get(node.name());
        shippable(
            node.name(),
            worker.map(|w| w.inner().as_any().type_id()),
            node.inner().as_any().type_id(),
        )
    }

    fn try_encode_udwf(&self, node: &WindowUDF, _buf: &mut Vec<u8>) -> Result<()> {
        let worker = worker_functions().window.get(node.name());
        shippable(
            node.name(),
            worker.map(|w| w.inner().as_any().type_id()),
            node.inner().as_any().type_id(),
        )
    }
}

/// Whether a function may travel: the worker has one of its name, of the same
/// implementation (not one the session registered over the worker's).
fn shippable(name: &str, worker: Option<TypeId>, session: TypeId) -> Result<()> {
    match worker {
        Some(worker) if worker == session => Ok(()),
        _ => not_impl_err!(
            "function {name} is evaluated for the session; the query runs on the gateway"
        ),
    }
}

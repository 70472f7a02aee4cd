//! One statement's run, stage by stage: admit → plan → estimate → execute → finish.
//!
//! [`run_query`] is the list of stages; each stage is one file with one entry point,
//! reading the shared [`engine::Engine`] and the statement's [`query_run::QueryRun`].
//! Finishing (audit, history, budgets, metrics) happens when the result stream ends
//! (finish.rs), wired by the service around the stream this returns.

pub(crate) mod admit;
pub(crate) mod cancel_points;
pub(crate) mod completion;
pub(crate) mod deadline;
pub(crate) mod engine;
pub(crate) mod estimate;
pub(crate) mod execute;
pub(crate) mod executor;
pub(crate) mod finish;
pub(crate) mod logical;
pub(crate) mod lookup_cache;
pub(crate) mod lookup_tables;
pub(crate) mod lookup_values;
pub(crate) mod lookups;
pub(crate) mod plan;
pub(crate) mod prepared_plan;
pub(crate) mod query_run;
pub(crate) mod result_schema;
pub(crate) mod route;

use datafusion::execution::SendableRecordBatchStream;
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DFStatement;

use crate::Result;
use crate::session::Session;
use crate::sql::explain_cost::cost_target;
use crate::statements::prepared::Prepared;
use deadline::{canceled_error, timeout_error};
use engine::Engine;
use query_run::QueryRun;

/// Admits, plans, estimates and starts a query. With `deadline_applies`,
/// `statement_timeout` bounds planning and the whole stream; without, only planning
/// (cursors). Returns the command tag and the stream.
pub(crate) async fn run_query(
    engine: &Engine,
    session: &Session,
    run: &mut QueryRun,
    prepared: &Prepared,
    statement: &DFStatement,
    params: Vec<ScalarValue>,
    deadline_applies: bool,
) -> Result<(&'static str, SendableRecordBatchStream)> {
    // EXPLAIN COST and dry runs plan the query and return its estimate.
    let estimate_only = cost_target(statement).is_some() || estimate::dry_run(session);
    let statement = cost_target(statement).unwrap_or(statement);
    let admitted = admit::register(engine, session, run, prepared, &params)?;
    let killed = admitted.entry().killed.clone();
    let (cancel, deadline) = (run.cancel.clone(), run.deadline);
    let stages = async {
        let slots = admit::wait_for_slots(engine, session, run, &admitted).await?;
        // The statement's kept plan, when it is the prepared statement itself (not the
        // query inside a COPY, DECLARE or EXPLAIN COST).
        let slot = std::ptr::eq(statement, &prepared.statement).then_some(&prepared.plans);
        let planned = crate::panic_guard::unpanicked(
            "planning the statement",
            plan::plan_query(engine, session, run, statement, params, estimate_only, slot),
        )
        .await?;
        let row_filtered = !run.access().filters.is_empty();
        if let Some(estimate) = estimate::check(
            engine,
            session,
            &planned,
            &admitted,
            estimate_only,
            row_filtered,
        )
        .await?
        {
            return Ok(("EXPLAIN", estimate, slots, None));
        }
        let mut slots = slots;
        admit::wait_for_memory(engine, run, &planned, &admitted, &mut slots).await?;
        let mut planned = planned;
        route::route(engine, session, &mut planned, &admitted).await?;
        let (tag, announced) = (planned.tag, planned.announced.clone());
        let stream = execute::start(engine, run, planned, &admitted)?;
        Ok((tag, stream, slots, Some(announced)))
    };
    // Cancellable, and within statement_timeout, from the queue to the first batch.
    let stages = async {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(canceled_error(&killed)),
            result = stages => result,
        }
    };
    let (tag, stream, slots, announced) = match deadline {
        Some((at, timeout)) => tokio::time::timeout_at(at, stages)
            .await
            .unwrap_or_else(|_| Err(timeout_error(timeout)))?,
        None => stages.await?,
    };
    let stream = execute::result_stream(
        stream,
        run,
        Some(slots),
        admitted,
        deadline_applies,
        announced,
    )?;
    Ok((tag, stream))
}

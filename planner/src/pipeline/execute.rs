//! Stage 4, execute: the results cache, metering of every operator, and the stream on
//! the query runtime, wrapped so that the deadline, cancel and kill reach it and the
//! query's slots and registration are held until it is dropped.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;

use crate::Result;
use crate::metering::Slots;
use crate::pipeline::admit::Admitted;
use crate::pipeline::completion::HoldingStream;
use crate::pipeline::deadline::DeadlineStream;
use crate::pipeline::engine::Engine;
use crate::pipeline::plan::Planned;
use crate::pipeline::query_run::QueryRun;
use crate::pipeline::result_schema::ConformedStream;
use crate::query_registry::QueryState;
use crate::session::Session;

/// Starts the planned query: from the results cache when a semantic query's result
/// is there, else metered on the query runtime.
pub(crate) fn start(
    engine: &Engine,
    session: &Session,
    run: &QueryRun,
    planned: Planned,
    admitted: &Admitted,
) -> Result<SendableRecordBatchStream> {
    let entry = admitted.entry();
    let Planned {
        is_explain,
        mut physical,
        mut task,
        ..
    } = planned;
    // A semantic query's result may be served from the cache.
    let cache = engine
        .semantic
        .as_ref()
        .and_then(|layer| layer.cache())
        .filter(|_| !is_explain && run.semantic);
    let cache_key = cache
        .as_ref()
        .and_then(|_| crate::result_cache::key(&physical, &session.principal.user));
    if let (Some(cache), Some(key)) = (&cache, &cache_key) {
        let hit = cache.get(key);
        engine.recorder.metrics.semantic_cache(hit.is_some());
        if let Some(stream) = hit {
            entry.set_state(QueryState::Running);
            return Ok(stream);
        }
    }
    if let Some(meter) = &run.meter {
        task = task.with_runtime(meter.runtime());
        if !is_explain {
            physical = meter.instrument(physical)?;
        }
    }
    // The registry holds the plan that runs (its scans give progress).
    entry.set_plan(physical.clone());
    entry.set_state(QueryState::Running);
    let stream = engine.executor.execute(physical, Arc::new(task));
    Ok(match (cache, cache_key) {
        (Some(cache), Some(key)) => cache.fill(key, stream),
        _ => stream,
    })
}

/// The stream the client reads: within the deadline (unless `deadline_applies` is
/// off, for a cursor, which can still be killed), holding the slots and the
/// registration, under the announced schema.
pub(crate) fn result_stream(
    stream: SendableRecordBatchStream,
    run: &QueryRun,
    slots: Option<Slots>,
    admitted: Admitted,
    deadline_applies: bool,
    announced: Option<SchemaRef>,
) -> Result<SendableRecordBatchStream> {
    let killed = admitted.entry().killed.clone();
    let limit = run.deadline.filter(|_| deadline_applies);
    let stream: SendableRecordBatchStream = Box::pin(DeadlineStream::new(
        stream,
        limit,
        run.cancel.clone(),
        killed,
    ));
    let stream: SendableRecordBatchStream =
        Box::pin(HoldingStream::new(stream, (slots, admitted.registration)));
    match announced {
        Some(schema) => ConformedStream::wrap(stream, schema),
        None => Ok(stream),
    }
}

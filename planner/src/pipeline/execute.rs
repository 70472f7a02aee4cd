//! Stage 4, execute: a result from the results cache, or metering of every operator,
//! and the stream on the query runtime (the workers' figures added at its end when it
//! ran on them), wrapped so that the deadline, cancel and kill reach it and the query's
//! slots and registration are held until it is dropped.

use std::sync::Arc;

use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_distributed::DistributedExec;
use futures::Stream;

use crate::Result;
use crate::metering::{QueryMeter, Slots};
use crate::pipeline::admit::Admitted;
use crate::pipeline::completion::HoldingStream;
use crate::pipeline::deadline::DeadlineStream;
use crate::pipeline::engine::Engine;
use crate::pipeline::plan::{Planned, Rows};
use crate::pipeline::query_run::QueryRun;
use crate::pipeline::result_schema::ConformedStream;
use crate::query_registry::QueryState;

/// Starts the planned query: its result from the results cache, or its plan metered
/// on the query runtime (its result then kept in the cache when it has a key).
pub(crate) fn start(
    engine: &Engine,
    run: &QueryRun,
    planned: Planned,
    admitted: &Admitted,
) -> Result<SendableRecordBatchStream> {
    let entry = admitted.entry();
    let Planned {
        is_explain, rows, ..
    } = planned;
    let (mut physical, mut task, cache_key, leader) = match rows {
        Rows::Cached(result) => {
            entry.set_state(QueryState::Running);
            return Ok(result.stream()?);
        }
        Rows::Run {
            physical,
            task,
            cache_key,
            leader,
        } => (physical, task, cache_key, leader),
    };
    // A plan cut into stages (pipeline/route.rs): the workers' figures come back with
    // its end.
    let staged = physical
        .as_any()
        .is::<DistributedExec>()
        .then(|| physical.clone());
    if let Some(meter) = &run.meter {
        *task = task.with_runtime(meter.runtime());
        if !is_explain {
            physical = meter.instrument(physical)?;
        }
    }
    // The registry holds the plan that runs (its scans give progress).
    entry.set_plan(physical.clone());
    entry.set_state(QueryState::Running);
    let mut stream = engine.executor.execute(physical, Arc::new(*task));
    if let (Some(staged), Some(meter)) = (staged, &run.meter) {
        stream = Box::pin(WorkerFigures {
            inner: stream,
            staged: Some(staged),
            meter: meter.clone(),
            metrics: engine.recorder.metrics.clone(),
        });
    }
    Ok(match (&engine.results, cache_key) {
        (Some(cache), Some(key)) => cache.fill(key, leader, stream),
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

/// The stream of a plan run on distributed workers: when it ends (or is dropped), what
/// the workers reported (scan figures, compute time) is added to the query's meter,
/// before the query's figures are read, and the bytes it moved to the gateway's
/// counters.
struct WorkerFigures {
    inner: SendableRecordBatchStream,
    staged: Option<Arc<dyn ExecutionPlan>>,
    meter: Arc<QueryMeter>,
    metrics: Arc<crate::Metrics>,
}

impl WorkerFigures {
    fn add(&mut self) {
        let Some(staged) = self.staged.take() else {
            return;
        };
        match crate::distributed::add_worker_figures(staged, &self.meter.scan()) {
            Ok(work) => {
                self.meter.add_worker_cpu(work.cpu_nanos);
                self.metrics.distributed_transferred(work.transferred_bytes);
            }
            Err(error) => {
                tracing::warn!(%error, "the distributed workers' figures could not be read")
            }
        }
    }
}

impl Stream for WorkerFigures {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next {
            self.add();
        }
        next
    }
}

impl RecordBatchStream for WorkerFigures {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for WorkerFigures {
    fn drop(&mut self) {
        self.add();
    }
}

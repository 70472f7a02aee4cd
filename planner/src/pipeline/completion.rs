//! A result stream that reports its end exactly once (rows, outcome, error), however it
//! ends: the query's log line and audit record are written from there. A complete
//! result ends only once its audit record is acknowledged as written, so the client
//! never sees a complete result the trail does not hold.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;
use lakegate_security::audit::AuditAck;

use crate::{ErrorKind, QueryError};

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// All rows were produced.
    Complete,
    /// Execution failed.
    Failed,
    /// The consumer dropped the stream early (client gone, portal closed).
    Abandoned,
}

/// Called once with the rows and Arrow bytes produced, the ending and the error
/// message, if any. A complete stream ends when the acknowledgement it returns
/// resolves, and fails if the record could not be written.
pub(crate) type OnFinish = Box<dyn FnOnce(u64, u64, Ending, Option<String>) -> AuditAck + Send>;

/// The error of a statement whose audit record could not be written (the writer logs
/// why).
pub(crate) fn withheld() -> QueryError {
    QueryError::new(
        ErrorKind::Internal,
        "the audit trail cannot be written; the result is withheld",
    )
}

/// Wraps a query's stream and calls `on_finish` once.
pub(crate) struct CompletionStream {
    inner: SendableRecordBatchStream,
    rows: u64,
    bytes: u64,
    on_finish: Option<OnFinish>,
    /// The audit record of the complete result, on its way to the file.
    acknowledging: Option<AuditAck>,
}

impl CompletionStream {
    pub(crate) fn new(inner: SendableRecordBatchStream, on_finish: OnFinish) -> Self {
        Self {
            inner,
            rows: 0,
            bytes: 0,
            on_finish: Some(on_finish),
            acknowledging: None,
        }
    }

    fn finish(&mut self, ending: Ending, error: Option<String>) -> Option<AuditAck> {
        let f = self.on_finish.take()?;
        Some(f(self.rows, self.bytes, ending, error))
    }
}

impl Stream for CompletionStream {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(ack) = self.acknowledging.as_mut() {
            let written = std::task::ready!(Pin::new(ack).poll(cx));
            self.acknowledging = None;
            return Poll::Ready(match written {
                Ok(()) => None,
                Err(_) => Some(Err(DataFusionError::External(Box::new(withheld())))),
            });
        }
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                self.rows += batch.num_rows() as u64;
                self.bytes += batch.get_array_memory_size() as u64;
            }
            Poll::Ready(Some(Err(e))) => {
                let message = QueryError::from(e.clone_for_report()).message;
                // The execution error is what the client sees either way; the writer
                // logs a record it cannot write.
                drop(self.finish(Ending::Failed, Some(message)));
            }
            Poll::Ready(None) => {
                if let Some(ack) = self.finish(Ending::Complete, None) {
                    self.acknowledging = Some(ack);
                    return self.poll_next(cx);
                }
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl RecordBatchStream for CompletionStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for CompletionStream {
    fn drop(&mut self) {
        drop(self.finish(Ending::Abandoned, None));
    }
}

/// DataFusion errors are not `Clone`; a report needs only the message and kind.
trait CloneForReport {
    fn clone_for_report(&self) -> DataFusionError;
}

impl CloneForReport for DataFusionError {
    fn clone_for_report(&self) -> DataFusionError {
        match self.find_root() {
            DataFusionError::External(inner) => match inner.downcast_ref::<QueryError>() {
                Some(q) => DataFusionError::External(Box::new(q.clone())),
                None => DataFusionError::Execution(self.to_string()),
            },
            DataFusionError::ArrowError(e, _)
                if matches!(**e, datafusion::arrow::error::ArrowError::DivideByZero) =>
            {
                DataFusionError::ArrowError(
                    Box::new(datafusion::arrow::error::ArrowError::DivideByZero),
                    None,
                )
            }
            DataFusionError::ResourcesExhausted(m) => {
                DataFusionError::ResourcesExhausted(m.clone())
            }
            other => DataFusionError::Execution(other.to_string()),
        }
    }
}

/// Holds what a query keeps while its result stream exists (execution slots, its
/// place in the registry of running queries) and drops it with the stream.
pub(crate) struct HoldingStream {
    inner: SendableRecordBatchStream,
    _held: Box<dyn std::any::Any + Send>,
}

impl HoldingStream {
    pub(crate) fn new(inner: SendableRecordBatchStream, held: impl std::any::Any + Send) -> Self {
        Self {
            inner,
            _held: Box::new(held),
        }
    }
}

impl Stream for HoldingStream {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for HoldingStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

//! A result stream that reports its end exactly once (rows, outcome, error), however it
//! ends: the query's log line and audit record are written from there, before the
//! client sees the result complete.

use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;

use crate::QueryError;

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
/// message, if any. An error it returns (the audit record could not be written) fails
/// the stream.
pub(crate) type OnFinish =
    Box<dyn FnOnce(u64, u64, Ending, Option<String>) -> Result<(), QueryError> + Send>;

/// Wraps a query's stream and calls `on_finish` once.
pub(crate) struct CompletionStream {
    inner: SendableRecordBatchStream,
    rows: u64,
    bytes: u64,
    on_finish: Option<OnFinish>,
}

impl CompletionStream {
    pub(crate) fn new(inner: SendableRecordBatchStream, on_finish: OnFinish) -> Self {
        Self {
            inner,
            rows: 0,
            bytes: 0,
            on_finish: Some(on_finish),
        }
    }

    fn finish(&mut self, ending: Ending, error: Option<String>) -> Result<(), QueryError> {
        match self.on_finish.take() {
            Some(f) => f(self.rows, self.bytes, ending, error),
            None => Ok(()),
        }
    }
}

impl Stream for CompletionStream {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                self.rows += batch.num_rows() as u64;
                self.bytes += batch.get_array_memory_size() as u64;
            }
            Poll::Ready(Some(Err(e))) => {
                let message = QueryError::from(e.clone_for_report()).message;
                // The execution error is what the client sees either way.
                let _ = self.finish(Ending::Failed, Some(message));
            }
            Poll::Ready(None) => {
                if let Err(e) = self.finish(Ending::Complete, None) {
                    return Poll::Ready(Some(Err(DataFusionError::External(Box::new(e)))));
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
        let _ = self.finish(Ending::Abandoned, None);
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

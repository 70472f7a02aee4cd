//! A result stream that writes the query's one log line when it ends, however it ends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::Result as DFResult;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;

/// Wraps a query's stream; logs rows, duration and outcome once.
pub(crate) struct LoggedStream {
    inner: SendableRecordBatchStream,
    query_id: u64,
    session_id: u64,
    user: String,
    started: Instant,
    rows: u64,
    outcome: Option<&'static str>,
}

impl LoggedStream {
    pub(crate) fn new(
        inner: SendableRecordBatchStream,
        query_id: u64,
        session_id: u64,
        user: String,
        started: Instant,
    ) -> Self {
        Self {
            inner,
            query_id,
            session_id,
            user,
            started,
            rows: 0,
            outcome: None,
        }
    }

    fn finish(&mut self, outcome: &'static str, error: Option<String>) {
        if self.outcome.is_some() {
            return;
        }
        self.outcome = Some(outcome);
        tracing::info!(
            query_id = self.query_id,
            session_id = self.session_id,
            user = %self.user,
            rows = self.rows,
            duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            outcome,
            error = error.as_deref().unwrap_or(""),
            "query"
        );
    }
}

impl Stream for LoggedStream {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => self.rows += batch.num_rows() as u64,
            Poll::Ready(Some(Err(e))) => {
                let message = e.to_string();
                self.finish("error", Some(message));
            }
            Poll::Ready(None) => self.finish("ok", None),
            Poll::Pending => {}
        }
        polled
    }
}

impl RecordBatchStream for LoggedStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for LoggedStream {
    fn drop(&mut self) {
        // Dropped before the end: the client went away or stopped reading.
        self.finish("abandoned", None);
    }
}

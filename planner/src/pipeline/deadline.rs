//! `statement_timeout` and cancellation: a result stream that fails with 57014 once its
//! deadline passes or its statement is cancelled.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::query_registry::KillNote;
use crate::{ErrorKind, QueryError};

/// The error a timed-out statement reports.
pub(crate) fn timeout_error(timeout: Duration) -> QueryError {
    QueryError::new(
        ErrorKind::Timeout,
        format!(
            "canceling statement due to statement timeout ({} ms)",
            timeout.as_millis()
        ),
    )
}

/// The error a cancelled statement reports: by its client (CancelRequest, Flight
/// cancel) or by `system.kill_query`, whose message it carries.
pub(crate) fn canceled_error(killed: &KillNote) -> QueryError {
    match killed.message() {
        Some(message) => QueryError::new(ErrorKind::Canceled, message.to_string()),
        None => QueryError::new(
            ErrorKind::Canceled,
            "canceling statement due to user request",
        ),
    }
}

/// Ends a stream with an error when the deadline passes or the statement is cancelled
/// before it ends.
pub(crate) struct DeadlineStream {
    inner: SendableRecordBatchStream,
    sleep: Option<(Pin<Box<Sleep>>, Duration)>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    killed: KillNote,
    expired: bool,
}

impl DeadlineStream {
    pub(crate) fn new(
        inner: SendableRecordBatchStream,
        deadline: Option<(Instant, Duration)>,
        cancel: CancellationToken,
        killed: KillNote,
    ) -> Self {
        Self {
            inner,
            sleep: deadline.map(|(at, timeout)| (Box::pin(tokio::time::sleep_until(at)), timeout)),
            cancelled: Box::pin(cancel.cancelled_owned()),
            killed,
            expired: false,
        }
    }

    fn fail(&mut self, error: QueryError) -> Poll<Option<DFResult<RecordBatch>>> {
        self.expired = true;
        Poll::Ready(Some(Err(DataFusionError::External(Box::new(error)))))
    }
}

impl Stream for DeadlineStream {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if self.cancelled.as_mut().poll(cx).is_ready() {
            let error = canceled_error(&self.killed);
            return self.fail(error);
        }
        let timed_out = match self.sleep.as_mut() {
            Some((sleep, timeout)) => sleep.as_mut().poll(cx).is_ready().then_some(*timeout),
            None => None,
        };
        if let Some(timeout) = timed_out {
            return self.fail(timeout_error(timeout));
        }
        self.inner.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for DeadlineStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

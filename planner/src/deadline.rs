//! `statement_timeout`: a result stream that fails with 57014 once its deadline passes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::{ErrorKind, QueryError};

/// The error a timed-out statement reports.
pub(crate) fn timeout_error(timeout: Duration) -> QueryError {
    QueryError::new(
        ErrorKind::Canceled,
        format!(
            "canceling statement due to statement timeout ({} ms)",
            timeout.as_millis()
        ),
    )
}

/// Ends a stream with a timeout error when the deadline passes before it does.
pub(crate) struct DeadlineStream {
    inner: SendableRecordBatchStream,
    sleep: Pin<Box<Sleep>>,
    timeout: Duration,
    expired: bool,
}

impl DeadlineStream {
    pub(crate) fn new(
        inner: SendableRecordBatchStream,
        deadline: Instant,
        timeout: Duration,
    ) -> Self {
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            timeout,
            expired: false,
        }
    }
}

impl Stream for DeadlineStream {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let error = timeout_error(self.timeout);
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(error)))));
        }
        self.inner.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for DeadlineStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

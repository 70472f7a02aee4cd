//! The CPU runtime: query execution runs on threads of its own, apart from the runtime
//! that serves connections, so that a heavy query (or an operator that computes for
//! long between yields) never stalls accepting clients, cancel requests, kills, the
//! admin port or shutdown. Results cross back over a small bounded channel.
//!
//! A plan starts executing when its result is first read, not when it is planned: a
//! result dropped unread (a client gone between Execute and its first read, a cursor
//! never fetched) costs no work, and none of it runs beside the next statement's
//! planning.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;

/// Batches buffered between the CPU runtime and the connection: enough to overlap
/// computing the next batch with sending the last, few enough to bound memory.
const IN_FLIGHT: usize = 1;

/// A multi-threaded tokio runtime that executes query plans.
#[derive(Debug)]
pub(crate) struct CpuExecutor {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl CpuExecutor {
    /// A runtime with `threads` worker threads.
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("lakegate-cpu")
            .thread_stack_size(crate::THREAD_STACK_BYTES)
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Self {
            runtime: Some(runtime),
            handle,
        })
    }

    /// Runs `work` (deep recursion over a plan: encoding it for the distributed
    /// workers) on the CPU runtime, whose threads have large stacks.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> DFResult<T> {
        self.handle
            .spawn(async move { work() })
            .await
            .map_err(|e| DataFusionError::Execution(format!("planning task failed: {e}")))
    }

    /// Executes `plan` on the CPU runtime once the stream is first polled; the stream
    /// is read from any runtime. Dropping the stream stops the execution at its next
    /// yield.
    pub(crate) fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        task: Arc<TaskContext>,
    ) -> SendableRecordBatchStream {
        let schema = plan.schema();
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let run = async move {
            let work = async {
                // Executed here so that the tasks operators spawn run on this runtime.
                let mut stream = match datafusion::physical_plan::execute_stream(plan, task) {
                    Ok(stream) => stream,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                loop {
                    let item = tokio::select! {
                        biased;
                        _ = tx.closed() => return,
                        item = stream.next() => item,
                    };
                    let Some(item) = item else { return };
                    if tx.send(item).await.is_err() {
                        return;
                    }
                }
            };
            // A panicking operator fails the query; it must not end the result early
            // as if it were complete.
            if std::panic::AssertUnwindSafe(work)
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::error!("query execution panicked");
                let _ = tx
                    .send(Err(DataFusionError::Execution(
                        "query execution failed unexpectedly (details are in the server log)"
                            .into(),
                    )))
                    .await;
            }
        };
        Box::pin(ExecutorStream {
            schema,
            rx,
            start: Some((self.handle.clone(), Box::pin(run))),
            task: None,
        })
    }
}

impl Drop for CpuExecutor {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The execution of a plan, not yet spawned onto the CPU runtime.
type Start = (
    tokio::runtime::Handle,
    Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
);

/// The result of a plan executing on the CPU runtime.
struct ExecutorStream {
    schema: SchemaRef,
    rx: mpsc::Receiver<DFResult<RecordBatch>>,
    /// Spawned on the first poll.
    start: Option<Start>,
    task: Option<tokio::task::AbortHandle>,
}

impl Stream for ExecutorStream {
    type Item = DFResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some((handle, run)) = self.start.take() {
            self.task = Some(handle.spawn(run).abort_handle());
        }
        self.rx.poll_recv(cx)
    }
}

impl RecordBatchStream for ExecutorStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Drop for ExecutorStream {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use datafusion::arrow::array::Int32Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};

    use super::*;

    /// One batch of one row; counts how often it was started.
    #[derive(Debug)]
    struct Counted {
        schema: SchemaRef,
        started: Arc<AtomicUsize>,
    }

    impl PartitionStream for Counted {
        fn schema(&self) -> &SchemaRef {
            &self.schema
        }

        fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
            self.started.fetch_add(1, Ordering::SeqCst);
            let batch = RecordBatch::try_new(
                self.schema.clone(),
                vec![Arc::new(Int32Array::from(vec![7]))],
            );
            Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::iter([batch.map_err(Into::into)]),
            ))
        }
    }

    fn counted_plan(started: &Arc<AtomicUsize>) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        let partition: Arc<dyn PartitionStream> = Arc::new(Counted {
            schema: schema.clone(),
            started: started.clone(),
        });
        Arc::new(
            StreamingTableExec::try_new(schema, vec![partition], None, [], false, None)
                .expect("plan"),
        )
    }

    #[tokio::test]
    async fn a_plan_runs_only_once_its_result_is_read() {
        let executor = CpuExecutor::new(1).expect("runtime");
        let started = Arc::new(AtomicUsize::new(0));

        // Dropped unread: never started.
        let unread = executor.execute(counted_plan(&started), Arc::new(TaskContext::default()));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(started.load(Ordering::SeqCst), 0);
        drop(unread);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(started.load(Ordering::SeqCst), 0);

        // Read: started once, and its rows arrive.
        let mut read = executor.execute(counted_plan(&started), Arc::new(TaskContext::default()));
        let batch = read.next().await.expect("a batch").expect("no error");
        assert_eq!(batch.num_rows(), 1);
        assert!(read.next().await.is_none());
        assert_eq!(started.load(Ordering::SeqCst), 1);
    }
}

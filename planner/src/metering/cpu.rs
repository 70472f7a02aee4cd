//! CPU time of a query's operators, without touching its plan.
//!
//! The plan's root is wrapped: each poll of the query's result stream measures its
//! thread's CPU time, and while it runs the query's clock is this thread's current
//! clock. Every task DataFusion spawns (repartitioning, merging, building hash tables)
//! goes through DataFusion's spawn hook ([`install_spawn_hook`]); a task spawned while a
//! query's clock is current gets that clock, and each of its polls is measured the same
//! way, as are the tasks it spawns in turn. Nested measurements on one thread count
//! once. Planning time is not included.
//!
//! An earlier design wrapped every operator of the plan. Rebuilding the plan around
//! the wrappers made DataFusion's hash joins behave differently (their rebuilt copies
//! share state with the optimizer's plan) and cost 5-20% of wall time on TPC-H.

use std::any::Any;
use std::cell::RefCell;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use cpu_time::ThreadTime;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::{JoinSetTracer, set_join_set_tracer};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::Stream;
use futures::future::BoxFuture;

thread_local! {
    /// The clock of the query whose poll runs on this thread, if a measured poll does.
    static CURRENT: RefCell<Option<Arc<CpuClock>>> = const { RefCell::new(None) };
}

/// Nanoseconds of CPU spent by one query's operators.
#[derive(Debug, Default)]
pub(crate) struct CpuClock {
    nanos: AtomicU64,
}

impl CpuClock {
    pub(crate) fn nanos(&self) -> u64 {
        self.nanos.load(Ordering::Relaxed)
    }

    /// Runs `f` with this clock current, adding the thread's CPU time to it unless an
    /// enclosing call on this thread is already measuring.
    fn measure<T>(self: &Arc<Self>, f: impl FnOnce() -> T) -> T {
        let outer = CURRENT.with(|c| c.borrow().is_some());
        if outer {
            return f();
        }
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        let start = ThreadTime::try_now().ok();
        let result = f();
        if let Some(start) = start {
            self.nanos
                .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        CURRENT.with(|c| *c.borrow_mut() = None);
        result
    }

    fn current() -> Option<Arc<CpuClock>> {
        CURRENT.with(|c| c.borrow().clone())
    }
}

/// Installs the spawn hook that gives tasks spawned during a measured poll the
/// spawning query's clock. Once per process; later calls do nothing.
pub(crate) fn install_spawn_hook() {
    static HOOK: SpawnClock = SpawnClock;
    // Already set (by an earlier service in this process, or by an embedding
    // application's tracer): spawned tasks are then not measured.
    let _ = set_join_set_tracer(&HOOK);
}

struct SpawnClock;

impl JoinSetTracer for SpawnClock {
    fn trace_future(
        &self,
        fut: BoxFuture<'static, Box<dyn Any + Send>>,
    ) -> BoxFuture<'static, Box<dyn Any + Send>> {
        match CpuClock::current() {
            Some(clock) => Box::pin(Measured { fut, clock }),
            None => fut,
        }
    }

    fn trace_block(
        &self,
        f: Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>,
    ) -> Box<dyn FnOnce() -> Box<dyn Any + Send> + Send> {
        match CpuClock::current() {
            Some(clock) => Box::new(move || clock.measure(f)),
            None => f,
        }
    }
}

/// A spawned task of a query: each poll measured on the query's clock.
struct Measured {
    fut: BoxFuture<'static, Box<dyn Any + Send>>,
    clock: Arc<CpuClock>,
}

impl std::future::Future for Measured {
    type Output = Box<dyn Any + Send>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let clock = this.clock.clone();
        clock.measure(|| this.fut.as_mut().poll(cx))
    }
}

/// The plan with its root wrapped so that the query's polls are measured on `clock`.
/// Nothing below the root changes.
pub(crate) fn instrument(
    plan: Arc<dyn ExecutionPlan>,
    clock: &Arc<CpuClock>,
) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(Arc::new(MeteredExec {
        input: plan,
        clock: clock.clone(),
    }))
}

#[derive(Debug)]
struct MeteredExec {
    input: Arc<dyn ExecutionPlan>,
    clock: Arc<CpuClock>,
}

impl DisplayAs for MeteredExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.input.fmt_as(t, f)
    }
}

impl ExecutionPlan for MeteredExec {
    fn name(&self) -> &str {
        "CpuMeteredExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(Self {
                input,
                clock: self.clock.clone(),
            })),
            _ => Err(DataFusionError::Internal(
                "CpuMeteredExec takes one input".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        // Operators may spawn their tasks here, under the query's clock.
        let input = self
            .clock
            .measure(|| self.input.execute(partition, context))?;
        Ok(Box::pin(MeteredStream {
            input,
            clock: self.clock.clone(),
        }))
    }
}

struct MeteredStream {
    input: SendableRecordBatchStream,
    clock: Arc<CpuClock>,
}

impl Stream for MeteredStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let clock = this.clock.clone();
        clock.measure(|| this.input.as_mut().poll_next(cx))
    }
}

impl RecordBatchStream for MeteredStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_measurements_count_once() {
        let clock = Arc::new(CpuClock::default());
        let spin = || {
            let mut x = 0u64;
            for i in 0..2_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x)
        };
        clock.measure(|| {
            spin();
            clock.measure(spin);
        });
        let nested = clock.nanos();
        assert!(nested > 0);
        let flat = Arc::new(CpuClock::default());
        flat.measure(|| {
            spin();
            spin();
        });
        // Both measured the same work once; allow generous noise.
        let ratio = nested as f64 / flat.nanos() as f64;
        assert!(
            (0.5..2.0).contains(&ratio),
            "nested {nested} vs flat {}",
            flat.nanos()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_spawned_under_a_clock_are_measured_on_it() {
        install_spawn_hook();
        let clock = Arc::new(CpuClock::default());
        let busy = || {
            let start = ThreadTime::now();
            let mut x = 0u64;
            while start.elapsed() < std::time::Duration::from_millis(30) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        };
        // The spawn happens inside a measured call, as in an operator's poll.
        let task = clock
            .measure(|| datafusion::common::runtime::SpawnedTask::spawn(async move { busy() }));
        task.join().await.expect("task");
        assert!(
            clock.nanos() >= 25_000_000,
            "the spawned task's 30 ms of CPU are on the clock: {} ns",
            clock.nanos()
        );
        // A task spawned outside any measured poll is on no clock.
        let other = Arc::new(CpuClock::default());
        datafusion::common::runtime::SpawnedTask::spawn(async move { busy() })
            .join()
            .await
            .expect("task");
        assert_eq!(other.nanos(), 0);
    }
}

//! CPU time of a query's operators: every node of the physical plan is wrapped, and
//! the outermost wrapper being polled on a thread measures that thread's CPU time for
//! the poll. Nested polls on the same thread are inside the outer measurement and are
//! not counted again; a poll in a task DataFusion spawned (repartitioning, merging) is
//! outermost on its own thread and is counted. Planning time is not included.

use std::any::Any;
use std::cell::Cell;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use cpu_time::ThreadTime;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::Stream;

thread_local! {
    /// Whether a metered poll is running on this thread.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
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

    /// Runs `f`, adding the thread's CPU time to the clock unless an enclosing call on
    /// this thread is already measuring.
    fn measure<T>(&self, f: impl FnOnce() -> T) -> T {
        if MEASURING.with(|m| m.replace(true)) {
            return f();
        }
        let start = ThreadTime::try_now().ok();
        let result = f();
        if let Some(start) = start {
            self.nanos
                .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        MEASURING.with(|m| m.set(false));
        result
    }
}

/// The plan with every node wrapped so that its polls are measured on `clock`.
pub(crate) fn instrument(
    plan: Arc<dyn ExecutionPlan>,
    clock: &Arc<CpuClock>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        Ok(Transformed::yes(Arc::new(MeteredExec {
            input: node,
            clock: clock.clone(),
        }) as Arc<dyn ExecutionPlan>))
    })
    .map(|t| t.data)
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
        let clock = CpuClock::default();
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
        let flat = CpuClock::default();
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
}

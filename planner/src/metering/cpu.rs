//! CPU time of a query's operators, without touching its plan.
//!
//! Each measured poll's wall time is kept, and the thread's CPU clock is read every few
//! dozen polls to turn it into CPU time (see [`CpuClock`]).
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
use std::time::{Duration, Instant};

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
    /// This thread's readings of its CPU clock, and the polls measured since the last.
    static SAMPLER: RefCell<Option<Sampler>> = const { RefCell::new(None) };
}

/// Measured polls between two readings of a thread's CPU clock.
const POLLS_PER_READING: u32 = 32;
/// Wall time after which the thread's CPU clock is read again, whatever the polls.
const WALL_PER_READING: Duration = Duration::from_millis(2);

/// Nanoseconds of CPU spent by one query's operators.
///
/// Reading a thread's CPU clock is a system call (about 0.85 µs on this project's
/// machine, where a query polls thousands of times), so it is read once per
/// [`POLLS_PER_READING`] measured polls or [`WALL_PER_READING`] on each thread, and each
/// poll's wall time (a vDSO read) is kept in between. At a reading, the CPU the thread
/// spent since the last one is shared among the queries polled in between, in
/// proportion to their polls' wall time and never more than that wall time; time
/// the thread spent outside measured polls (idle, or another query's planning) is left
/// out in the same proportion. Polls not yet settled by a reading count at their wall
/// time.
#[derive(Debug, Default)]
pub(crate) struct CpuClock {
    /// CPU nanoseconds settled at readings.
    nanos: AtomicU64,
    /// Wall nanoseconds of measured polls no reading has settled yet.
    pending: AtomicU64,
}

impl CpuClock {
    pub(crate) fn nanos(&self) -> u64 {
        self.nanos.load(Ordering::Relaxed) + self.pending.load(Ordering::Relaxed)
    }

    /// Adds CPU time measured elsewhere (a distributed worker's operators).
    pub(crate) fn add_nanos(&self, nanos: u64) {
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Runs `f` with this clock current, adding its time to this clock unless an
    /// enclosing call on this thread is already measuring.
    fn measure<T>(self: &Arc<Self>, f: impl FnOnce() -> T) -> T {
        let outer = CURRENT.with(|c| c.borrow().is_some());
        if outer {
            return f();
        }
        SAMPLER.with(|s| {
            s.borrow_mut().get_or_insert_with(Sampler::start);
        });
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        let start = Instant::now();
        let result = f();
        let wall = start.elapsed().as_nanos() as u64;
        CURRENT.with(|c| *c.borrow_mut() = None);
        self.pending.fetch_add(wall, Ordering::Relaxed);
        SAMPLER.with(|s| {
            if let Some(sampler) = s.borrow_mut().as_mut() {
                sampler.record(self, wall);
            }
        });
        result
    }

    fn current() -> Option<Arc<CpuClock>> {
        CURRENT.with(|c| c.borrow().clone())
    }
}

/// One thread's CPU clock readings and the polls measured since the last one.
struct Sampler {
    cpu_at: Duration,
    wall_at: Instant,
    polls: u32,
    /// Each clock polled since the last reading, with its polls' wall nanoseconds.
    measured: Vec<(Arc<CpuClock>, u64)>,
}

impl Sampler {
    fn start() -> Self {
        Self {
            cpu_at: thread_cpu(),
            wall_at: Instant::now(),
            polls: 0,
            measured: Vec::new(),
        }
    }

    fn record(&mut self, clock: &Arc<CpuClock>, wall: u64) {
        match self
            .measured
            .iter_mut()
            .find(|(c, _)| Arc::ptr_eq(c, clock))
        {
            Some((_, total)) => *total += wall,
            None => self.measured.push((clock.clone(), wall)),
        }
        self.polls += 1;
        if self.polls >= POLLS_PER_READING || self.wall_at.elapsed() >= WALL_PER_READING {
            self.settle();
        }
    }

    /// Reads the thread's CPU clock and shares what it advanced among the clocks
    /// polled since the last reading.
    fn settle(&mut self) {
        let cpu_now = thread_cpu();
        let wall_now = Instant::now();
        let cpu = cpu_now.saturating_sub(self.cpu_at).as_nanos() as f64;
        let interval = wall_now.duration_since(self.wall_at).as_nanos() as f64;
        let measured: u64 = self.measured.iter().map(|(_, w)| w).sum();
        if measured > 0 {
            let share = match interval > 0.0 {
                true => (measured as f64 / interval).min(1.0),
                false => 1.0,
            };
            let attributable = (cpu * share).min(measured as f64);
            for (clock, wall) in self.measured.drain(..) {
                let settled = attributable * wall as f64 / measured as f64;
                clock.nanos.fetch_add(settled as u64, Ordering::Relaxed);
                clock.pending.fetch_sub(wall, Ordering::Relaxed);
            }
        }
        self.measured.clear();
        self.cpu_at = cpu_now;
        self.wall_at = wall_now;
        self.polls = 0;
    }
}

/// The CPU time this thread has used (zero where the platform cannot tell).
fn thread_cpu() -> Duration {
    ThreadTime::try_now()
        .map(|t| t.as_duration())
        .unwrap_or_default()
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

    #[test]
    fn readings_share_the_cpu_among_the_clocks_polled() {
        let (light, heavy) = (Arc::new(CpuClock::default()), Arc::new(CpuClock::default()));
        let spin = |n: u64| {
            let mut x = 0u64;
            for i in 0..n {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
        };
        let start = ThreadTime::now();
        for _ in 0..200 {
            light.measure(|| spin(100_000));
            heavy.measure(|| spin(300_000));
        }
        let used = start.elapsed().as_nanos() as f64;
        let (l, h) = (light.nanos() as f64, heavy.nanos() as f64);
        // 400 polls: settled at readings, little left pending.
        assert!(
            (heavy.pending.load(Ordering::Relaxed) as f64) < h / 4.0,
            "mostly settled"
        );
        assert!((2.0..4.5).contains(&(h / l)), "about 3x: {h} vs {l}");
        assert!(
            l + h <= used * 1.05 && l + h >= used * 0.6,
            "{l} + {h} against the {used} ns the thread used"
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

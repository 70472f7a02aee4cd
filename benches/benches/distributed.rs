//! TPC-H at SF 1 on one gateway against the same gateway with its plans run in stages
//! on two distributed workers (`gateway worker`, here in runtimes of their own in this
//! process, talking over loopback gRPC as separate machines would). On this machine
//! the workers share the gateway's cores, so the figure is the overhead of
//! distribution (cutting the plan, shipping it signed, Arrow Flight between the
//! stages), not a speed-up. Per query: the medians of BENCH_RUNS alternated runs each
//! way, their ratio, whether the plan ran staged (datafusion-distributed runs a plan
//! whose every scan fits one task, `files_per_task`, as one stage on the gateway), and
//! the bytes its stages moved. The totals are the inputs of the 10-node estimate in the README.
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --bench distributed` (BENCH_SF,
//! default 1; BENCH_RUNS, default 3; BENCH_DATA_DIR keeps the seeded lakehouse between
//! runs; BENCH_FILES_PER_TASK, `[distributed] files_per_task`, default 0: the number
//! of cores).

use std::sync::Arc;
use std::time::{Duration, Instant};

use lakegate_benches::{
    BenchDir, alternated_medians, bench_config, binary_rows, demo_client, env_or, millis,
    tpch_query,
};
use lakegate_gateway::config::Config;
use lakegate_gateway::server::Gateway;
use lakegate_gateway::worker::{WorkerOptions, start_worker};
use lakegate_planner::Metrics;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "the shared secret of the distributed benchmark, long enough to sign";

/// A worker in a runtime of its own, as a separate process would have.
struct Worker {
    url: String,
    runtime: tokio::runtime::Runtime,
    stop: CancellationToken,
}

impl Worker {
    fn start(config: &Config) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_stack_size(lakegate_planner::THREAD_STACK_BYTES)
            .enable_all()
            .build()?;
        let stop = CancellationToken::new();
        let options = WorkerOptions {
            listen: "127.0.0.1:0".into(),
            ..WorkerOptions::default()
        };
        let started = runtime.block_on(start_worker(config, &options, stop.clone()))?;
        Ok(Self {
            url: started.url.to_string(),
            runtime,
            stop,
        })
    }
}

/// What one query did: the medians each way, and what the distributed runs showed.
struct Measured {
    local: Duration,
    distributed: Duration,
    staged: bool,
    transferred_bytes: u64,
}

fn main() -> anyhow::Result<()> {
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 1.0);
    let runs: usize = env_or("BENCH_RUNS", 3).max(1);
    let dir = BenchDir::new(scale_factor)?;
    let secret = dir.path().join("flight.secret");
    std::fs::write(&secret, format!("{SECRET}\n"))?;
    let server = tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(lakegate_planner::THREAD_STACK_BYTES)
        .enable_all()
        .build()?;
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let mut config = bench_config(dir.path(), scale_factor);
    config.flight.secret_file = Some(secret.display().to_string());
    eprintln!(
        "opening (seeding when missing) TPC-H SF {scale_factor} in {}",
        dir.path().display()
    );
    let seeding = server.block_on(Gateway::start(config.clone(), false))?;
    server.block_on(seeding.shutdown());

    let workers = [Worker::start(&config)?, Worker::start(&config)?];
    config.distributed.enabled = true;
    config.distributed.workers = workers.iter().map(|w| w.url.clone()).collect();
    // Every query asks for the workers by its session's setting.
    config.distributed.threshold_bytes = u64::MAX;
    config.distributed.files_per_task = env_or("BENCH_FILES_PER_TASK", 0);
    let gateway = server.block_on(Gateway::start(config, false))?;
    let metrics: Arc<Metrics> = gateway.service().metrics().clone();
    let (local, distributed) = client.block_on(async {
        let local = demo_client(gateway.pg_addr()).await?;
        local.batch_execute("SET gateway.distributed = off").await?;
        let distributed = demo_client(gateway.pg_addr()).await?;
        distributed
            .batch_execute("SET gateway.distributed = on")
            .await?;
        anyhow::Ok((local, distributed))
    })?;

    let mut measured = Vec::new();
    for n in 1..=22 {
        let sql = tpch_query(n);
        let (staged, transferred_bytes) = client.block_on(async {
            // Warm-up each way, and the same number of rows.
            let here = binary_rows(&local, &sql).await;
            let (queries, moved) = (
                metrics.distributed_queries(),
                metrics.distributed_transferred_bytes(),
            );
            let there = binary_rows(&distributed, &sql).await;
            anyhow::ensure!(
                here == there,
                "Q{n}: {here} rows on the gateway, {there} on the workers"
            );
            Ok((
                metrics.distributed_queries() > queries,
                metrics.distributed_transferred_bytes() - moved,
            ))
        })?;
        let (local_median, distributed_median) =
            client.block_on(alternated_medians(runs, async |on_workers| {
                let session = if on_workers { &distributed } else { &local };
                let started = Instant::now();
                binary_rows(session, &sql).await;
                started.elapsed()
            }));
        measured.push(Measured {
            local: local_median,
            distributed: distributed_median,
            staged,
            transferred_bytes,
        });
    }
    print_table(scale_factor, runs, &measured);

    drop((local, distributed));
    server.block_on(gateway.shutdown());
    for worker in workers {
        worker.stop.cancel();
        worker.runtime.shutdown_timeout(Duration::from_secs(5));
    }
    drop(dir);
    Ok(())
}

fn print_table(scale_factor: f64, runs: usize, measured: &[Measured]) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "TPC-H SF {scale_factor}, one gateway alone against the gateway and 2 workers on \
         the same {cores} cores; median of {runs} alternated runs; ms, and distributed ÷ alone:"
    );
    println!("| query | gateway alone | 2 workers | staged | MB between stages |");
    println!("|---|---|---|---|---|");
    let mut local_total = Duration::ZERO;
    let mut distributed_total = Duration::ZERO;
    let mut staged_local = Duration::ZERO;
    let mut staged_distributed = Duration::ZERO;
    let mut bytes = 0;
    for (i, m) in measured.iter().enumerate() {
        println!(
            "| Q{} | {:.0} | {:.0} ({:.2}) | {} | {:.1} |",
            i + 1,
            millis(m.local),
            millis(m.distributed),
            m.distributed.as_secs_f64() / m.local.as_secs_f64(),
            if m.staged { "yes" } else { "no (local)" },
            m.transferred_bytes as f64 / 1e6
        );
        local_total += m.local;
        distributed_total += m.distributed;
        if m.staged {
            staged_local += m.local;
            staged_distributed += m.distributed;
            bytes += m.transferred_bytes;
        }
    }
    let staged = measured.iter().filter(|m| m.staged).count();
    println!(
        "| all 22 | {:.0} | {:.0} ({:.2}) | {staged} | {:.1} |",
        millis(local_total),
        millis(distributed_total),
        distributed_total.as_secs_f64() / local_total.as_secs_f64(),
        bytes as f64 / 1e6
    );
    println!(
        "the {staged} staged queries: alone {:.0} ms, on the workers {:.0} ms ({:.2}); \
         overhead {:.0} ms in all, {:.0} ms per query; {:.1} MB moved between stages",
        millis(staged_local),
        millis(staged_distributed),
        staged_distributed.as_secs_f64() / staged_local.as_secs_f64().max(f64::EPSILON),
        millis(staged_distributed.saturating_sub(staged_local)),
        millis(staged_distributed.saturating_sub(staged_local)) / staged.max(1) as f64,
        bytes as f64 / 1e6
    );
}

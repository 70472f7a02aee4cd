//! The two distributed engines that pair with DataFusion 53, measured against each other
//! on TPC-H over the same Parquet files: DataFusion alone (the baseline), the plan cut
//! into stages by datafusion-distributed 1.0 on two workers, and Ballista 53 (its
//! scheduler and two executors). datafusion-distributed cuts the plans as the gateway
//! does (see [`run`]). Every server runs in a runtime of its own in this
//! process and they talk over loopback gRPC, as separate machines would; none of
//! lakegate's layers is in the way, so the figures are the engines' own. Per query: one
//! warm-up per engine (each must return as many rows as DataFusion alone), then
//! BENCH_RUNS timed rounds, the engines taking turns at going first; medians and their
//! ratios to DataFusion alone. This is the measurement behind the engine the gateway
//! ships its plans to (README, "Distributed execution").
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --features ballista --bench
//! engines` (BENCH_SF, default 1; BENCH_RUNS, default 3; BENCH_DATA_DIR keeps the seeded
//! lakehouse between runs). The feature builds Ballista, which nothing else needs.

use std::time::{Duration, Instant};

use anyhow::Context;
use ballista::prelude::SessionContextExt;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_distributed::{DistributedExt, Worker, WorkerResolver};
use lakegate_benches::{
    BenchDir, bench_config, count_rows, env_or, median, ratio_cells, register_tpch_parquet,
    tpch_query,
};
use lakegate_gateway::server::Gateway;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use url::Url;

/// The engines, in the order of the printed columns; the first is the baseline.
const ENGINES: [&str; 3] = ["DataFusion alone", "datafusion-distributed", "Ballista"];

/// Servers in a runtime of their own, as a separate process would have them.
fn own_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(lakegate_planner::THREAD_STACK_BYTES)
        .enable_all()
        .build()?)
}

/// A datafusion-distributed worker on a loopback port.
fn start_worker(runtime: &tokio::runtime::Runtime) -> anyhow::Result<Url> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = Url::parse(&format!("http://{}", listener.local_addr()?))?;
    runtime.spawn(
        Server::builder()
            .add_service(Worker::default().into_worker_server())
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    Ok(url)
}

/// The workers a coordinator sends stages to.
struct Fixed(Vec<Url>);

impl WorkerResolver for Fixed {
    fn get_urls(&self) -> Result<Vec<Url>, datafusion::error::DataFusionError> {
        Ok(self.0.clone())
    }
}

/// The session configuration of every engine: the gateway's engine defaults (its
/// build-side thresholds), `partitions` partitions.
fn engine_config(partitions: usize) -> anyhow::Result<SessionConfig> {
    let mut config = SessionConfig::new();
    for (name, value) in lakegate_planner::ENGINE_DEFAULTS {
        config.options_mut().set(name, value)?;
    }
    Ok(config
        .with_target_partitions(partitions)
        .with_default_catalog_and_schema("lake", "tpch")
        .with_create_default_catalog_and_schema(true))
}

/// A Ballista scheduler and two executors of `slots` task slots, each in a runtime of
/// its own; the scheduler's URL. The runtimes are pushed to `keep`.
fn start_ballista(slots: usize, keep: &mut Vec<tokio::runtime::Runtime>) -> anyhow::Result<String> {
    let scheduler = own_runtime()?;
    let addr = scheduler
        .block_on(ballista_scheduler::standalone::new_standalone_scheduler())
        .context("Ballista's scheduler")?;
    let url = format!("http://localhost:{}", addr.port());
    keep.push(scheduler);
    for _ in 0..2 {
        let executor = own_runtime()?;
        executor.block_on(async {
            let client = SchedulerGrpcClient::connect(url.clone()).await?;
            ballista_executor::new_standalone_executor(client, slots, BallistaCodec::default())
                .await?;
            anyhow::Ok(())
        })?;
        keep.push(executor);
    }
    Ok(url)
}

/// Runs `sql` to the last row on engine `engine` (an index of [`ENGINES`]); rows and
/// time. datafusion-distributed's plans are cut into stages as the gateway cuts them
/// (`lakegate_planner::distributed::distribute`): its optimizer rule alone splits the
/// build side of a collected outer join across tasks (its issue #563; Q13 returns 33
/// groups instead of 42 at SF 1), which the gateway's cut avoids.
async fn run(ctx: &SessionContext, engine: usize, sql: &str) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let frame = ctx.sql(sql).await?;
    let stream = if engine == 1 {
        let plan = frame.create_physical_plan().await?;
        let plan = lakegate_planner::distributed::distribute(&plan, ctx.state().config_options())?
            .unwrap_or(plan);
        execute_stream(plan, ctx.task_ctx())?
    } else {
        frame.execute_stream().await?
    };
    let rows = count_rows(stream).await?;
    Ok((rows, started.elapsed()))
}

fn main() -> anyhow::Result<()> {
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 1.0);
    let runs: usize = env_or("BENCH_RUNS", 3).max(1);
    let dir = BenchDir::new(scale_factor)?;
    let config = bench_config(dir.path(), scale_factor);
    let client = own_runtime()?;
    eprintln!(
        "opening (seeding when missing) TPC-H SF {scale_factor} in {}",
        dir.path().display()
    );
    let seeding = client.block_on(Gateway::start(config.clone(), false))?;
    client.block_on(seeding.shutdown());
    let warehouse = lakegate_benches::embedded_warehouse(&config)?;
    let partitions = std::thread::available_parallelism().map_or(2, |n| n.get());

    // The servers: two datafusion-distributed workers, a Ballista scheduler with two
    // executors. Each engine's servers get as many threads (or task slots) as cores.
    let mut runtimes = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let runtime = own_runtime()?;
        workers.push(start_worker(&runtime)?);
        runtimes.push(runtime);
    }
    let scheduler = start_ballista(partitions, &mut runtimes)?;

    let contexts = client.block_on(async {
        let alone = SessionContext::new_with_config(engine_config(partitions)?);
        let distributed = SessionContext::new_with_state(
            SessionStateBuilder::new()
                .with_default_features()
                .with_config(engine_config(partitions)?)
                .with_distributed_worker_resolver(Fixed(workers))
                .with_distributed_broadcast_joins(true)?
                .build(),
        );
        let ballista = SessionContext::remote_with_state(
            &scheduler,
            SessionStateBuilder::new()
                .with_default_features()
                .with_config(engine_config(partitions)?)
                .build(),
        )
        .await?;
        for ctx in [&alone, &distributed, &ballista] {
            register_tpch_parquet(ctx, &warehouse).await?;
        }
        anyhow::Ok([alone, distributed, ballista])
    })?;

    println!(
        "\nTPC-H SF {scale_factor}, {partitions} cores, medians of {runs} rotated runs \
         (ms, ratio to DataFusion alone)\n"
    );
    println!("| query | {} |", ENGINES.join(" | "));
    println!("|---|---|---|---|");
    let mut totals = [Duration::ZERO; 3];
    for n in 1..=22 {
        let sql = tpch_query(n);
        let times = client.block_on(async {
            let mut expected = None;
            for (engine, (name, ctx)) in ENGINES.iter().zip(&contexts).enumerate() {
                let (rows, _) = run(ctx, engine, &sql)
                    .await
                    .with_context(|| format!("Q{n} on {name}"))?;
                match expected {
                    None => expected = Some(rows),
                    Some(expected) => anyhow::ensure!(
                        rows == expected,
                        "Q{n}: {expected} rows alone, {rows} on {name}"
                    ),
                }
            }
            let mut samples: [Vec<Duration>; 3] = Default::default();
            for round in 0..runs {
                // Each engine goes first in turn.
                for k in 0..3 {
                    let engine = (round + k) % 3;
                    samples[engine].push(run(&contexts[engine], engine, &sql).await?.1);
                }
            }
            anyhow::Ok(samples.map(median))
        })?;
        for (total, time) in totals.iter_mut().zip(&times) {
            *total += *time;
        }
        println!("| Q{n} | {} |", ratio_cells(&times, 0));
    }
    println!("| **all 22** | {} |", ratio_cells(&totals, 0));
    drop(contexts);
    for runtime in runtimes {
        runtime.shutdown_background();
    }
    Ok(())
}

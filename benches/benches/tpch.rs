//! TPC-H at SF 1 through the gateway against DuckDB over the very same Parquet data
//! files: the 22 queries through (a) the gateway over Postgres wire with a binary client,
//! (b) the gateway over Flight SQL, (c) DuckDB (the Python package, in a child process)
//! and (d) DataFusion in-process over the data files as plain Parquet tables, with the
//! gateway's engine options (what the gateway's own layers cost). One warm-up
//! per query and engine (every engine must return as many rows as DuckDB), then
//! BENCH_RUNS timed runs, the engines taking turns at going first; per-query medians and
//! totals as ratios against DuckDB. Also: the time to seed, and Q1's first run after a
//! restart (cold metadata caches) against its second.
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --bench tpch` (BENCH_SF, default
//! 1; BENCH_RUNS, default 3; BENCH_DATA_DIR keeps the seeded lakehouse between runs,
//! default a temporary directory; BENCH_PARTITIONS and BENCH_BATCH_SIZE, the gateway's
//! `[query]` settings, default the number of cores and 8192; BENCH_ENGINE, DataFusion options `name=value` separated
//! by commas, set on the gateway's sessions (`[query.engine]`) and on the in-process
//! DataFusion alike). DuckDB needs a Python with the pinned `duckdb`
//! (`LAKEGATE_PYTHON`, else `python3`; `.ci/run` builds one in target/clients-venv).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::prelude::{SessionConfig, SessionContext};
use lakegate_benches::{
    bench_config, binary_rows, channel, count_rows, drain, env_or, median, millis, ratio_cells,
    register_tpch_parquet, tpch_query,
};
use lakegate_gateway::config::Config;
use lakegate_gateway::server::Gateway;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tonic::transport::Channel;

/// The engines compared, in the order of the printed columns; DuckDB is the baseline.
const ENGINES: [&str; 4] = ["DuckDB", "wire", "Flight SQL", "DataFusion"];

/// DuckDB answering queries in a child process (`benches/python/duckdb_tpch.py`).
struct DuckDb {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl DuckDb {
    async fn start(data_dir: &Path, threads: usize) -> anyhow::Result<Self> {
        let python = std::env::var("LAKEGATE_PYTHON").unwrap_or_else(|_| "python3".into());
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut child = tokio::process::Command::new(&python)
            .arg(here.join("python/duckdb_tpch.py"))
            .arg(data_dir)
            .arg(here.join("../tests/tpch"))
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {python} for DuckDB"))?;
        let stdin = child.stdin.take().context("DuckDB's stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("DuckDB's stdout")?).lines();
        let ready = stdout.next_line().await?;
        anyhow::ensure!(
            ready.as_deref() == Some("ready"),
            "DuckDB did not start (is the pinned duckdb installed in {python}? \
             set LAKEGATE_PYTHON, see .ci/run)"
        );
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    /// Rows and DuckDB's own time for query `n`.
    async fn run(&mut self, n: usize) -> anyhow::Result<(u64, Duration)> {
        self.stdin.write_all(format!("{n}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        let line = self
            .stdout
            .next_line()
            .await?
            .with_context(|| format!("DuckDB stopped on Q{n}"))?;
        let (rows, seconds) = line
            .split_once(' ')
            .with_context(|| format!("DuckDB answered {line:?}"))?;
        Ok((
            rows.parse()?,
            Duration::from_secs_f64(seconds.parse::<f64>()?),
        ))
    }
}

/// The clients of the gateway's two doors.
struct Clients {
    pg: tokio_postgres::Client,
    sql: FlightSqlServiceClient<Channel>,
    raw: FlightServiceClient<Channel>,
}

impl Clients {
    async fn connect(gateway: &Gateway) -> anyhow::Result<Self> {
        let pg = lakegate_benches::demo_client(gateway.pg_addr()).await?;
        let flight_addr = gateway.flight_addr().context("Flight SQL is enabled")?;
        let flight = channel(format!("http://{flight_addr}")).await?;
        let mut sql = FlightSqlServiceClient::new(flight.clone());
        sql.handshake("demo", "demo").await?;
        Ok(Self {
            pg,
            sql,
            raw: FlightServiceClient::new(flight),
        })
    }

    async fn wire(&self, sql: &str) -> (u64, Duration) {
        let started = Instant::now();
        let rows = binary_rows(&self.pg, sql).await;
        (rows, started.elapsed())
    }

    async fn flight(&mut self, sql: &str) -> anyhow::Result<(u64, Duration)> {
        let started = Instant::now();
        let info = self.sql.execute(sql.into(), None).await?;
        let token = self.sql.token().cloned();
        let mut rows = 0;
        for endpoint in info.endpoint {
            let ticket = endpoint.ticket.context("an endpoint without a ticket")?;
            rows += drain(&mut self.raw, ticket, token.as_deref()).await?.0;
        }
        Ok((rows, started.elapsed()))
    }
}

/// DataFusion over the data files as plain Parquet tables, as many partitions as the
/// gateway plans with.
async fn plain_parquet(
    warehouse: &Path,
    partitions: usize,
    batch_size: usize,
    engine: &BTreeMap<String, String>,
) -> anyhow::Result<SessionContext> {
    // The gateway's engine defaults and the options under test alike, so that this
    // column is the gateway's engine without the gateway.
    let mut config = SessionConfig::new();
    for (name, value) in lakegate_planner::ENGINE_DEFAULTS {
        config.options_mut().set(name, value)?;
    }
    for (name, value) in engine {
        config.options_mut().set(name, value)?;
    }
    let ctx = SessionContext::new_with_config(
        config
            .with_target_partitions(partitions)
            .with_batch_size(batch_size)
            .with_default_catalog_and_schema("lake", "tpch")
            .with_create_default_catalog_and_schema(true),
    );
    register_tpch_parquet(&ctx, warehouse).await?;
    Ok(ctx)
}

/// Runs `sql` to the last row on a DataFusion context; rows and time.
async fn datafusion(ctx: &SessionContext, sql: &str) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let rows = count_rows(ctx.sql(sql).await?.execute_stream().await?).await?;
    Ok((rows, started.elapsed()))
}

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 1.0);
    let runs: usize = env_or("BENCH_RUNS", 3).max(1);
    let kept = std::env::var("BENCH_DATA_DIR").ok().map(PathBuf::from);
    let temporary = tempfile::tempdir()?;
    let dir = kept.unwrap_or_else(|| temporary.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    // The gateway and the in-process DataFusion run on the runtime's worker threads;
    // the clients on the main thread.
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let mut config: Config = bench_config(&dir, scale_factor);
    config.query.target_partitions = env_or("BENCH_PARTITIONS", 0);
    config.query.batch_size = env_or("BENCH_BATCH_SIZE", config.query.batch_size);
    for pair in std::env::var("BENCH_ENGINE").unwrap_or_default().split(',') {
        if let Some((name, value)) = pair.split_once('=') {
            config
                .query
                .engine
                .insert(name.trim().to_string(), value.trim().to_string());
        }
    }
    let fresh = !dir.join("warehouse/tpch").exists();
    let started = Instant::now();
    eprintln!(
        "opening (seeding when missing) TPC-H SF {scale_factor} in {}",
        dir.display()
    );
    let seeding = server.block_on(Gateway::start(config.clone(), false))?;
    let seeded = started.elapsed();
    server.block_on(seeding.shutdown());

    // A restart: the first Q1 finds every cache cold (the OS page cache aside).
    let gateway = server.block_on(Gateway::start(config.clone(), false))?;
    let mut clients = client.block_on(Clients::connect(&gateway))?;
    let q1 = tpch_query(1);
    let (cold_q1, warm_q1) =
        client.block_on(async { (clients.wire(&q1).await.1, clients.wire(&q1).await.1) });

    let warehouse = lakegate_benches::embedded_warehouse(&config)?;
    let partitions = match config.query.target_partitions {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let parquet = server.block_on(plain_parquet(
        &warehouse,
        partitions,
        config.query.batch_size,
        &config.query.engine,
    ))?;
    // DuckDB with a thread per core, whatever the gateway's partitions.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut duckdb = client.block_on(DuckDb::start(&dir, cores))?;

    let mut run = |engine: usize, sql: &str, n: usize| -> anyhow::Result<(u64, Duration)> {
        match engine {
            0 => client.block_on(duckdb.run(n)),
            1 => Ok(client.block_on(clients.wire(sql))),
            2 => client.block_on(clients.flight(sql)),
            _ => server.block_on(datafusion(&parquet, sql)),
        }
    };

    println!(
        "TPC-H SF {scale_factor}, {partitions} partitions (DuckDB {cores} threads), batch size {}, engine options {:?}; \
         median of {runs} runs, engines alternated; ms, and ÷ DuckDB:",
        config.query.batch_size, config.query.engine
    );
    println!("| query | {} |", ENGINES.join(" | "));
    println!("|---|---|---|---|---|");
    let mut totals = [Duration::ZERO; 4];
    let mut worst = (0.0f64, 0usize);
    for n in 1..=22 {
        let sql = tpch_query(n);
        let expected = run(0, &sql, n)?.0;
        for (engine, name) in ENGINES.iter().enumerate().skip(1) {
            let rows = run(engine, &sql, n)?.0;
            anyhow::ensure!(
                rows == expected,
                "Q{n}: {name} returned {rows} rows, DuckDB {expected}"
            );
        }
        let mut samples: [Vec<Duration>; 4] = Default::default();
        for i in 0..runs {
            for k in 0..ENGINES.len() {
                let engine = (i + k) % ENGINES.len();
                samples[engine].push(run(engine, &sql, n)?.1);
            }
        }
        let medians = samples.map(median);
        let base = medians[0].as_secs_f64();
        println!("| Q{n} | {} |", ratio_cells(&medians, 1));
        let wire_ratio = medians[1].as_secs_f64() / base;
        if wire_ratio > worst.0 {
            worst = (wire_ratio, n);
        }
        for (total, median) in totals.iter_mut().zip(medians) {
            *total += median;
        }
    }
    println!("| all 22 | {} |", ratio_cells(&totals, 0));
    println!(
        "worst query over Postgres wire: Q{} at {:.2}× DuckDB",
        worst.1, worst.0
    );
    println!(
        "{}: {:.1} s",
        if fresh {
            "seeding TPC-H (first start of the gateway)"
        } else {
            "opening the kept lakehouse (BENCH_DATA_DIR, no seeding)"
        },
        seeded.as_secs_f64()
    );
    println!(
        "Q1 after a restart over Postgres wire: first {:.1} ms (cold caches), second {:.1} ms",
        millis(cold_q1),
        millis(warm_q1)
    );

    client.block_on(async {
        drop(duckdb.stdin);
        duckdb.child.wait().await
    })?;
    drop(clients);
    server.block_on(gateway.shutdown());
    Ok(())
}

//! Shared pieces of the benchmarks in `benches/`: settings from the environment, medians,
//! running a statement in-process through the QueryService (the no-wire baseline), and
//! reading results as the wire and Flight SQL clients do.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, Ticket};
use futures::{StreamExt, TryStreamExt};
use lakegate_gateway::config::Config;
use lakegate_planner::{ClientOrigin, Outcome, QueryService, Session};
use lakegate_security::Principal;
use tonic::transport::Channel;

/// A number from the environment, or the default.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of some timings.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Where a benchmark keeps its warehouse: `BENCH_DATA_DIR` if set (kept between runs,
/// so a large scale factor is seeded once; the scale factor is part of the path), else
/// a temporary directory removed at the end.
pub enum BenchDir {
    Kept(std::path::PathBuf),
    Temporary(tempfile::TempDir),
}

impl BenchDir {
    pub fn new(scale_factor: f64) -> anyhow::Result<Self> {
        Ok(match std::env::var_os("BENCH_DATA_DIR") {
            Some(root) => {
                let dir = Path::new(&root).join(format!("sf{scale_factor}"));
                std::fs::create_dir_all(&dir)?;
                BenchDir::Kept(dir)
            }
            None => BenchDir::Temporary(tempfile::tempdir()?),
        })
    }

    pub fn path(&self) -> &Path {
        match self {
            BenchDir::Kept(dir) => dir,
            BenchDir::Temporary(dir) => dir.path(),
        }
    }
}

/// Loads PostgreSQL with the gateway's rows: the gateway's `COPY … TO STDOUT` (text)
/// straight into PostgreSQL's `COPY … FROM STDIN`. Returns the rows loaded.
pub async fn copy_into_postgres(
    lake: &tokio_postgres::Client,
    pg: &tokio_postgres::Client,
    copy_out: &str,
    copy_in: &str,
) -> anyhow::Result<u64> {
    use futures::SinkExt;
    let source = lake.copy_out(copy_out).await?;
    let sink = pg.copy_in(copy_in).await?;
    futures::pin_mut!(sink);
    futures::pin_mut!(source);
    while let Some(chunk) = source.try_next().await? {
        sink.send(chunk).await?;
    }
    Ok(sink.finish().await?)
}

/// A gateway configuration for benchmarks: data in `dir`, port 0, no admin endpoint,
/// and no results cache (benchmarks repeat queries to time running them; those that
/// time the cache turn it on).
pub fn bench_config(dir: &Path, scale_factor: f64) -> Config {
    let mut config = Config {
        data_dir: dir.display().to_string(),
        ..Config::default()
    };
    config.pg.listen = "127.0.0.1:0".into();
    config.flight.listen = "127.0.0.1:0".into();
    config.admin.enabled = false;
    config.seed.scale_factor = scale_factor;
    config.cache.results_mb = 0;
    // BENCH_ENGINE="name=value,…": DataFusion options to try, as `[query.engine]` sets.
    if let Ok(options) = std::env::var("BENCH_ENGINE") {
        for option in options.split(',').filter(|o| !o.is_empty()) {
            let (name, value) = option.split_once('=').expect("BENCH_ENGINE: name=value");
            config
                .query
                .engine
                .insert(name.trim().to_string(), value.trim().to_string());
        }
    }
    config
}

/// The SQL of TPC-H query `n`.
pub fn tpch_query(n: usize) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/tpch/q{n}.sql"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The medians of `runs` alternated timings of `run(false)` (the baseline) and
/// `run(true)` (the measured side), taking turns at going first.
pub async fn alternated_medians(
    runs: usize,
    mut run: impl AsyncFnMut(bool) -> Duration,
) -> (Duration, Duration) {
    let (mut baseline, mut measured) = (Vec::new(), Vec::new());
    // ABBA: each side runs first in half of the pairs, so whatever the first run of a
    // pair leaves behind (warm caches, background work such as a history flush) falls
    // on both sides alike.
    for i in 0..runs {
        if i % 2 == 0 {
            baseline.push(run(false).await);
            measured.push(run(true).await);
        } else {
            measured.push(run(true).await);
            baseline.push(run(false).await);
        }
    }
    (median(baseline), median(measured))
}

/// What `run(true)` adds to `run(false)`: `pairs` pairs run back to back, taking turns at
/// going first, and the median and quartiles of the differences within each pair (in
/// µs), with both sides' medians. A difference taken within a pair cancels the drift a
/// shared machine adds to both sides, which a difference of medians does not.
pub async fn paired_difference(
    pairs: usize,
    mut run: impl AsyncFnMut(bool) -> Duration,
) -> PairedDifference {
    let (mut baseline, mut measured, mut differences) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..pairs {
        let (a, b) = if i % 2 == 0 {
            let a = run(false).await;
            (a, run(true).await)
        } else {
            let b = run(true).await;
            (run(false).await, b)
        };
        baseline.push(a);
        measured.push(b);
        differences.push((b.as_secs_f64() - a.as_secs_f64()) * 1e6);
    }
    differences.sort_by(f64::total_cmp);
    let at = |q: f64| differences[((differences.len() - 1) as f64 * q).round() as usize];
    PairedDifference {
        baseline: median(baseline),
        measured: median(measured),
        median_us: at(0.5),
        quartiles_us: (at(0.25), at(0.75)),
    }
}

/// See [`paired_difference`].
pub struct PairedDifference {
    pub baseline: Duration,
    pub measured: Duration,
    pub median_us: f64,
    pub quartiles_us: (f64, f64),
}

impl std::fmt::Display for PairedDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>6.0} µs → {:>6.0} µs, {:+.0} µs (quartiles {:+.0} to {:+.0})",
            self.baseline.as_secs_f64() * 1e6,
            self.measured.as_secs_f64() * 1e6,
            self.median_us,
            self.quartiles_us.0,
            self.quartiles_us.1
        )
    }
}

/// The warehouse directory of the configuration's embedded catalog (where the seeded
/// TPC-H tables' Parquet files are).
pub fn embedded_warehouse(config: &Config) -> anyhow::Result<std::path::PathBuf> {
    config
        .effective_catalogs()
        .first()
        .map(|c| std::path::PathBuf::from(&c.warehouse))
        .ok_or_else(|| anyhow::anyhow!("no embedded catalog"))
}

/// An in-process session for a user.
pub fn session(service: &QueryService, user: &str) -> Session {
    service.open_session(
        Principal::new(user),
        ClientOrigin {
            address: "in-process".into(),
            protocol: "bench",
        },
    )
}

/// Runs SQL as the simple protocol does, without the wire; with `consume`, reads every
/// batch and counts rows, without it stops at the ready stream (planning only).
pub async fn run_in_process(
    service: &QueryService,
    session: &mut Session,
    sql: &str,
    consume: bool,
) -> (u64, Duration) {
    let started = Instant::now();
    let mut rows = 0;
    for statement in service.parse(session, sql).expect("parse") {
        let prepared = service.prepare_to_run(sql, statement);
        let outcome = service
            .execute(session, &prepared, Vec::new())
            .await
            .expect("execute");
        if let (true, Outcome::Rows { mut stream, .. }) = (consume, outcome) {
            while let Some(batch) = stream.next().await {
                rows += batch.expect("batch").num_rows() as u64;
            }
        }
    }
    (rows, started.elapsed())
}

/// Reads every row of `sql` over Postgres wire with binary results (tokio-postgres's
/// extended protocol) and counts them.
pub async fn binary_rows(client: &tokio_postgres::Client, sql: &str) -> u64 {
    let stream = client
        .query_raw(sql, Vec::<i64>::new())
        .await
        .expect("query");
    futures::pin_mut!(stream);
    let mut rows = 0;
    while let Some(row) = stream.next().await {
        row.expect("row");
        rows += 1;
    }
    rows
}

/// The sum of figure `name` (e.g. `bytes_scanned`) over the cost notices the session
/// received since they were last taken (`gateway.show_cost` must be on).
pub fn cost_figure(session: &Session, name: &str) -> u64 {
    let prefix = format!("{name}=");
    session
        .take_notices()
        .iter()
        .filter_map(|n| n.detail.as_deref())
        .flat_map(|d| d.split_whitespace())
        .filter_map(|pair| pair.strip_prefix(prefix.as_str()))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

/// Rows and wire bytes of one DoGet, decoded as a client would.
pub async fn drain(
    client: &mut FlightServiceClient<Channel>,
    ticket: Ticket,
    token: Option<&str>,
) -> anyhow::Result<(u64, u64)> {
    drain_compressed(client, ticket, token, None).await
}

/// [`drain`], asking the gateway for IPC bodies compressed with `codec`
/// (`lz4_frame`, `zstd`).
pub async fn drain_compressed(
    client: &mut FlightServiceClient<Channel>,
    ticket: Ticket,
    token: Option<&str>,
    codec: Option<&str>,
) -> anyhow::Result<(u64, u64)> {
    let mut request = tonic::Request::new(ticket);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    if let Some(codec) = codec {
        request
            .metadata_mut()
            .insert(lakegate_gateway::flight::COMPRESSION_KEY, codec.parse()?);
    }
    let stream = client.do_get(request).await?.into_inner();
    let bytes = Arc::new(AtomicU64::new(0));
    let counter = bytes.clone();
    let counted = stream
        .map_err(|status| FlightError::Tonic(Box::new(status)))
        .inspect_ok(move |data: &FlightData| {
            let size = (data.data_header.len() + data.data_body.len()) as u64;
            counter.fetch_add(size, Ordering::Relaxed);
        });
    let mut batches = FlightRecordBatchStream::new_from_flight_data(counted);
    let mut rows = 0u64;
    while let Some(batch) = batches.next().await {
        rows += batch?.num_rows() as u64;
    }
    Ok((rows, bytes.load(Ordering::Relaxed)))
}

/// A gRPC channel to `uri` (`http://host:port`).
pub async fn channel(uri: String) -> anyhow::Result<Channel> {
    Ok(tonic::transport::Endpoint::from_shared(uri)?
        .connect()
        .await?)
}

/// A Postgres wire client of the gateway at `addr`, as the demo user; its connection
/// runs on the current runtime.
pub async fn demo_client(addr: std::net::SocketAddr) -> anyhow::Result<tokio_postgres::Client> {
    client_as(addr, "demo").await
}

/// A Postgres wire client of the gateway at `addr`, as one of the demo users (whose
/// password is its name); its connection runs on the current runtime.
pub async fn client_as(
    addr: std::net::SocketAddr,
    user: &str,
) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "host={} port={} user={user} password={user} dbname=lake",
            addr.ip(),
            addr.port()
        ),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(connection);
    Ok(client)
}

/// A duration in milliseconds.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One table row's cells: the baseline's time (the first) in ms, then each other
/// engine's and its ratio to the baseline's, with `decimals` digits after the point.
pub fn ratio_cells(times: &[Duration], decimals: usize) -> String {
    let base = times.first().map_or(1.0, Duration::as_secs_f64);
    let cells: Vec<String> = times
        .iter()
        .enumerate()
        .map(|(engine, t)| match engine {
            0 => format!("{:.decimals$}", millis(*t)),
            _ => format!("{:.decimals$} ({:.2})", millis(*t), t.as_secs_f64() / base),
        })
        .collect();
    cells.join(" | ")
}

/// Registers the TPC-H tables of the embedded catalog's `warehouse` on `ctx` as plain
/// Parquet tables over their data files.
pub async fn register_tpch_parquet(
    ctx: &datafusion::prelude::SessionContext,
    warehouse: &Path,
) -> anyhow::Result<()> {
    for table in lakegate_catalog::tpch::TABLES {
        let name = table.name();
        let data = warehouse.join(format!("tpch/{name}/data/"));
        ctx.register_parquet(
            name,
            &data.display().to_string(),
            datafusion::prelude::ParquetReadOptions::default(),
        )
        .await?;
    }
    Ok(())
}

/// Reads `stream` to its end; the rows it held.
pub async fn count_rows(
    mut stream: datafusion::execution::SendableRecordBatchStream,
) -> anyhow::Result<u64> {
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch?.num_rows() as u64;
    }
    Ok(rows)
}

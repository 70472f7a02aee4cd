//! Flight SQL throughput: `SELECT * FROM lake.tpch.lineitem` over Flight SQL, in GB/s
//! (Arrow IPC bytes on the wire) and rows/s, against two baselines of the same run:
//! the same query over Postgres wire (tokio-postgres, binary), and a plain
//! pyarrow.flight server streaming the same batches from memory (the ceiling). The same
//! scan with LZ4 and ZSTD IPC bodies (`x-lakegate-ipc-compression`) is measured too.
//! Then the latency of a small query through the statement path and through the
//! prepared path ADBC's DB-API takes (create, execute, close), against the same query
//! over Postgres wire.
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --bench flight` (BENCH_SF sets the
//! scale factor, default 0.1; BENCH_RUNS the rounds, default 5, in which the paths take
//! turns at going first; medians and their spread are reported; BENCH_DATA_DIR keeps the
//! warehouse). The ceiling needs a Python with pyarrow and adbc-driver-flightsql
//! (`LAKEGATE_PYTHON`, else `python3`; `.ci/run` builds one in target/clients-venv).

use std::process::Stdio;
use std::time::{Duration, Instant};

use arrow_flight::Ticket;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::client::FlightSqlServiceClient;
use lakegate_benches::{
    bench_config, binary_rows, channel, drain, drain_compressed, env_or, median, run_in_process,
    session,
};
use lakegate_gateway::server::Gateway;
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::transport::Channel;

const SCAN: &str = "SELECT * FROM lake.tpch.lineitem";
const POINT: &str = "SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = 7";

/// One run of the scan over Flight SQL: GetFlightInfo (planning) and DoGet.
async fn flight_scan(
    sql_client: &mut FlightSqlServiceClient<Channel>,
    raw: &mut FlightServiceClient<Channel>,
    codec: Option<&str>,
) -> anyhow::Result<(u64, u64)> {
    let info = sql_client.execute(SCAN.into(), None).await?;
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let token = sql_client.token().cloned();
    drain_compressed(raw, ticket, token.as_deref(), codec).await
}

/// The pyarrow.flight ceiling: a child process serving the same batches from memory.
struct Ceiling {
    child: tokio::process::Child,
    port: u16,
}

async fn start_ceiling(host: &str, port: u16) -> anyhow::Result<Option<Ceiling>> {
    let python = std::env::var("LAKEGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/flight_ceiling.py");
    let spawned = tokio::process::Command::new(&python)
        .arg(script)
        .args([host, &port.to_string(), "demo", "demo", SCAN])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = spawned else {
        return Ok(None);
    };
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).await?;
    let Some(port) = line.split_whitespace().next().and_then(|p| p.parse().ok()) else {
        return Ok(None);
    };
    Ok(Some(Ceiling { child, port }))
}

/// The median time of `runs` evaluations of an async expression, and its last value.
macro_rules! timed {
    ($runs:expr, $body:expr) => {{
        let mut times = Vec::with_capacity($runs);
        let mut last = None;
        for _ in 0..$runs {
            let started = Instant::now();
            last = Some($body);
            times.push(started.elapsed());
        }
        (median(times), last.expect("at least one run"))
    }};
}

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let runs: usize = env_or("BENCH_RUNS", 5).max(1);
    // The gateway serves from runtime threads of its own; the client reads on one thread.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = lakegate_benches::BenchDir::new(scale_factor)?;
    eprintln!("seeding TPC-H SF {scale_factor}");
    let mut config = bench_config(dir.path(), scale_factor);
    config.flight.listen = "127.0.0.1:0".into();
    let gateway = server_runtime.block_on(Gateway::start(config, false))?;
    let pg_addr = gateway.pg_addr();
    let flight_addr = gateway.flight_addr().expect("Flight SQL is enabled");
    let gateway_service = gateway.service().clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let flight_channel = channel(format!("http://{flight_addr}")).await?;
        let mut sql_client = FlightSqlServiceClient::new(flight_channel.clone());
        sql_client.handshake("demo", "demo").await?;
        let mut raw = FlightServiceClient::new(flight_channel);
        let pg = lakegate_benches::demo_client(pg_addr).await?;

        // Warm the page cache and catalogs.
        flight_scan(&mut sql_client, &mut raw, None).await?;
        let ceiling = start_ceiling(&flight_addr.ip().to_string(), flight_addr.port()).await?;
        let mut ceiling_client = match &ceiling {
            Some(ceiling) => {
                let mut client =
                    FlightServiceClient::new(channel(format!("http://127.0.0.1:{}", ceiling.port)).await?);
                drain(&mut client, Ticket::new("lineitem"), None).await?;
                Some(client)
            }
            None => None,
        };
        let service = gateway_service.clone();
        let mut in_process = session(&service, "demo");

        // Rounds of the four paths, each round starting with the next one, so that no
        // path always runs first (or after the same neighbour).
        let mut times: [Vec<Duration>; 6] = Default::default();
        let mut compressed_bytes = [0u64; 2];
        let (mut rows, mut bytes, mut pg_rows) = (0, 0, 0);
        // BENCH_PATHS (flight,pg,scan,ceiling) narrows the rounds, e.g. for a profile.
        let names = ["flight", "pg", "scan", "ceiling", "lz4", "zstd"];
        let chosen = std::env::var("BENCH_PATHS").unwrap_or_else(|_| names.join(","));
        for round in 0..runs {
            for turn in 0..names.len() {
                let path = (round + turn) % names.len();
                if !chosen.split(',').any(|name| name.trim() == names[path]) {
                    continue;
                }
                let started = Instant::now();
                match path {
                    0 => (rows, bytes) = flight_scan(&mut sql_client, &mut raw, None).await?,
                    4 | 5 => {
                        let codec = ["lz4_frame", "zstd"][path - 4];
                        let (got, sent) =
                            flight_scan(&mut sql_client, &mut raw, Some(codec)).await?;
                        assert_eq!(got, rows, "{codec} returns every row");
                        compressed_bytes[path - 4] = sent;
                    }
                    1 => pg_rows = binary_rows(&pg, SCAN).await,
                    // What the scan itself costs: in-process, with no wire at all.
                    2 => {
                        run_in_process(&service, &mut in_process, SCAN, true).await;
                    }
                    _ => match &mut ceiling_client {
                        Some(client) => {
                            let (ceiling_rows, _) =
                                drain(client, Ticket::new("lineitem"), None).await?;
                            assert_eq!(ceiling_rows, rows, "the ceiling serves the same rows");
                        }
                        None => continue,
                    },
                }
                times[path].push(started.elapsed());
            }
        }
        if pg_rows > 0 {
            assert_eq!(rows, pg_rows, "both doors return every row");
        }
        let [
            flight_times,
            pg_times,
            scan_times,
            ceiling_times,
            lz4_times,
            zstd_times,
        ] = times;
        let range = |times: &[Duration]| {
            let rows_per_s = |t: &Duration| rows as f64 / t.as_secs_f64() / 1e6;
            let low = times.iter().max().map(rows_per_s).unwrap_or_default();
            let high = times.iter().min().map(rows_per_s).unwrap_or_default();
            format!("{low:.2}–{high:.2} M")
        };
        let spreads = [
            &flight_times,
            &pg_times,
            &ceiling_times,
            &scan_times,
            &lz4_times,
            &zstd_times,
        ]
        .map(|t| range(t));
        let middle = |t: Vec<Duration>| if t.is_empty() { Duration::ZERO } else { median(t) };
        let flight_time = middle(flight_times);
        let pg_time = middle(pg_times);
        let scan_time = middle(scan_times);
        let compressed_times = [middle(lz4_times), middle(zstd_times)];
        let ceiling_time = (!ceiling_times.is_empty()).then(|| median(ceiling_times));

        // Small-query latency: statement path, prepared path (ADBC DB-API), Postgres wire.
        let small_runs = runs * 40;
        let token = sql_client.token().cloned();
        let (statement_time, _) = timed!(small_runs, {
            let info = sql_client.execute(POINT.into(), None).await?;
            let ticket = info.endpoint[0].ticket.clone().expect("ticket");
            drain(&mut raw, ticket, token.as_deref()).await?
        });
        let (prepared_time, _) = timed!(small_runs, {
            let mut statement = sql_client.prepare(POINT.into(), None).await?;
            let info = statement.execute().await?;
            let ticket = info.endpoint[0].ticket.clone().expect("ticket");
            let counted = drain(&mut raw, ticket, token.as_deref()).await?;
            statement.close().await?;
            counted
        });
        let (pg_point_time, _) = timed!(small_runs, binary_rows(&pg, POINT).await);

        let secs = |d: Duration| d.as_secs_f64();
        let gbps = |d: Duration| bytes as f64 / secs(d) / 1e9;
        let rps = |d: Duration| rows as f64 / secs(d);
        println!(
            "lineitem at SF {scale_factor}: {rows} rows, {:.1} MB of Arrow IPC; median of {runs} runs",
            bytes as f64 / 1e6
        );
        println!("| path | GB/s | rows/s | spread (rows/s) | Flight SQL compared |");
        println!("|---|---|---|---|---|");
        println!(
            "| Flight SQL (gateway) | {:.3} | {:.0} | {} | 1.00 |",
            gbps(flight_time),
            rps(flight_time),
            spreads[0]
        );
        println!(
            "| Postgres wire binary (gateway) | — | {:.0} | {} | {:.2}× rows/s |",
            rps(pg_time),
            spreads[1],
            secs(pg_time) / secs(flight_time)
        );
        for (i, codec) in ["LZ4 frame", "ZSTD"].into_iter().enumerate() {
            let t = compressed_times[i];
            if t.is_zero() {
                continue;
            }
            println!(
                "| Flight SQL, {codec} bodies ({:.0} MB sent) | {:.3} | {:.0} | {} | {:.2}× rows/s |",
                compressed_bytes[i] as f64 / 1e6,
                compressed_bytes[i] as f64 / secs(t) / 1e9,
                rps(t),
                spreads[4 + i],
                secs(flight_time) / secs(t)
            );
        }
        match ceiling_time {
            Some(t) => println!(
                "| pyarrow.flight from memory (ceiling) | {:.3} | {:.0} | {} | {:.0}% of ceiling |",
                gbps(t),
                rps(t),
                spreads[2],
                100.0 * secs(t) / secs(flight_time)
            ),
            None => println!("| pyarrow.flight ceiling | skipped: no Python with pyarrow and adbc-driver-flightsql | | | |"),
        }
        println!(
            "| in-process scan, no wire (what the gateway cannot avoid) | — | {:.0} | {} | {:.0}% of its rows/s |",
            rps(scan_time),
            spreads[3],
            100.0 * secs(scan_time) / secs(flight_time)
        );
        println!();
        println!("small query ({POINT}), median of {small_runs}:");
        println!("| path | ms per query | ÷ Postgres wire |");
        println!("|---|---|---|");
        for (name, t) in [
            ("Flight SQL statement (GetFlightInfo + DoGet)", statement_time),
            ("Flight SQL prepared (create + execute + DoGet + close)", prepared_time),
            ("Postgres wire (extended protocol)", pg_point_time),
        ] {
            println!(
                "| {name} | {:.2} | {:.2} |",
                secs(t) * 1e3,
                secs(t) / secs(pg_point_time)
            );
        }
        if let Some(mut ceiling) = ceiling {
            drop(ceiling.child.stdin.take());
            let _ = ceiling.child.wait().await;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    server_runtime.block_on(gateway.shutdown());
    Ok(())
}

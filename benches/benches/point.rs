//! Point queries as pgbench's select-only run sends them: each client prepares
//! `SELECT … WHERE key = $1` once and executes it with random keys for a fixed time.
//! The gateway (results cache off, then on) against PostgreSQL 15 on the same machine
//! holding the same table with a primary key, at 1, 8 and 32 clients; queries/s, p50
//! and p99, and the ratio gateway / PostgreSQL. Sides take turns at going first.
//!
//! Needs a PostgreSQL server (`apt-get install postgresql`). Run:
//! `cargo bench --profile fast -p lakegate-benches --bench point`
//! (BENCH_SF, default 0.1: the customer table has 150 000 × SF rows; BENCH_SECONDS per
//! run, default 5; BENCH_CLIENTS, default `1,8,32`).

use std::time::{Duration, Instant};

use lakegate_benches::{BenchDir, bench_config, copy_into_postgres, env_or};
use lakegate_gateway::server::Gateway;
use lakegate_tests::postgres_server::PostgresServer;

const CUSTOMER: &str = "CREATE TABLE customer (
    c_custkey bigint PRIMARY KEY, c_name text, c_address text, c_nationkey bigint,
    c_phone text, c_acctbal numeric(15,2), c_mktsegment text, c_comment text)";

const GATEWAY_QUERY: &str = "SELECT c_name, c_acctbal FROM lake.tpch.customer WHERE c_custkey = $1";
const PG_QUERY: &str = "SELECT c_name, c_acctbal FROM customer WHERE c_custkey = $1";

/// Queries answered and their latencies, from all clients of one run.
struct Run {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i].as_secs_f64() * 1000.0
    }
}

/// `clients` connections from `conn`, each running `setup` first (a SET).
async fn connect_all(conn: &str, clients: usize, setup: &str) -> Vec<tokio_postgres::Client> {
    let mut connected = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        if !setup.is_empty() {
            client.batch_execute(setup).await.expect("setup");
        }
        connected.push(client);
    }
    connected
}

/// Every client executes the prepared statement with pseudo-random keys for `time`.
async fn run(clients: &[tokio_postgres::Client], sql: &str, keys: i64, time: Duration) -> Run {
    let started = Instant::now();
    let deadline = started + time;
    let tasks = clients.iter().enumerate().map(|(i, client)| async move {
        let statement = client.prepare(sql).await.expect("prepare");
        let mut latencies = Vec::new();
        // A linear congruential sequence per client: reproducible and spread out.
        let mut state = 0x9e37_79b9_u64.wrapping_mul(i as u64 + 1);
        while Instant::now() < deadline {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let key = (state >> 33) as i64 % keys + 1;
            let at = Instant::now();
            let rows = client
                .query(&statement, &[&key])
                .await
                .expect("point query");
            latencies.push(at.elapsed());
            assert_eq!(rows.len(), 1, "key {key}");
        }
        latencies
    });
    let latencies = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect();
    Run {
        latencies,
        wall: started.elapsed(),
    }
}

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let seconds: f64 = env_or("BENCH_SECONDS", 5.0);
    let client_counts: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,8,32".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let time = Duration::from_secs_f64(seconds);
    // The gateway serves from runtime threads of its own, as PostgreSQL serves from
    // processes of its own; the clients share one thread in both cases, as pgbench's
    // clients share one thread by default.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = BenchDir::new(scale_factor)?;
    eprintln!("seeding TPC-H SF {scale_factor}");
    let mut config = bench_config(dir.path(), scale_factor);
    config.cache.results_mb = 256;
    let gateway = server_runtime.block_on(Gateway::start(config, false))?;
    let addr = gateway.pg_addr();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let postgres = PostgresServer::start_with(&["log_statement=none"]).ok_or_else(|| {
            anyhow::anyhow!("PostgreSQL is not installed (apt-get install postgresql)")
        })?;
        let lake_conn = format!(
            "host={} port={} user=demo password=demo dbname=lake",
            addr.ip(),
            addr.port()
        );
        let pg_conn = postgres.conn_str();
        let lake = connect_all(&lake_conn, 1, "").await.remove(0);
        let pg = postgres.connect().await;
        pg.batch_execute(CUSTOMER).await?;
        let keys = copy_into_postgres(
            &lake,
            &pg,
            "COPY lake.tpch.customer TO STDOUT",
            "COPY customer FROM STDIN",
        )
        .await? as i64;
        pg.batch_execute("VACUUM ANALYZE customer").await?;
        println!(
            "point queries on customer ({keys} rows), {seconds} s per run; \
             prepared once per client, random keys"
        );
        println!(
            "{:>8} {:<26} {:>10} {:>9} {:>9} {:>14}",
            "clients", "server", "queries/s", "p50 ms", "p99 ms", "vs PostgreSQL"
        );
        for (turn, &clients) in client_counts.iter().enumerate() {
            let sides = [
                ("PostgreSQL 15", pg_conn.as_str(), PG_QUERY, ""),
                (
                    "gateway, results cache off",
                    lake_conn.as_str(),
                    GATEWAY_QUERY,
                    "SET gateway.cache = off",
                ),
                (
                    "gateway, results cache on",
                    lake_conn.as_str(),
                    GATEWAY_QUERY,
                    "",
                ),
            ];
            let mut runs = Vec::new();
            // Alternate which goes first from one client count to the next.
            let order: Vec<usize> = if turn % 2 == 0 {
                vec![0, 1, 2]
            } else {
                vec![2, 1, 0]
            };
            for &side in &order {
                let (_, conn, sql, setup) = sides[side];
                let connected = connect_all(conn, clients, setup).await;
                // Warm: plans, the file cache, PostgreSQL's buffers.
                run(&connected, sql, keys, Duration::from_millis(500)).await;
                runs.push((side, run(&connected, sql, keys, time).await));
            }
            runs.sort_by_key(|(side, _)| *side);
            let pg_rate = runs[0].1.rate();
            for (side, measured) in &runs {
                println!(
                    "{clients:>8} {:<26} {:>10.0} {:>9.2} {:>9.2} {:>13.2}x",
                    sides[*side].0,
                    measured.rate(),
                    measured.percentile_ms(0.5),
                    measured.percentile_ms(0.99),
                    measured.rate() / pg_rate
                );
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    drop(gateway);
    drop(server_runtime);
    Ok(())
}

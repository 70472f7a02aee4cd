//! A BI dashboard's load: many clients at once, each replaying the same 20 queries
//! (plain SQL, semantic queries and point lookups, as three users with different
//! policies) round after round, over Postgres wire. Prints latency percentiles and
//! queries/s of the first round (cold) and of the rounds after it (warm), with the
//! results cache on and, as the baseline of the same run, off; and the server-side
//! wall time of cache hits from the query history.
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --bench dashboard`
//! (BENCH_SF, default 0.1; BENCH_CLIENTS, default 50; BENCH_ROUNDS, default 5).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lakegate_benches::{bench_config, client_as, env_or, tpch_query};
use lakegate_gateway::config::CacheConfig;
use lakegate_gateway::server::Gateway;

/// The users the clients log in as, in turn: two share a policy, the analyst's row
/// filters and masks give it plans of its own.
const USERS: [&str; 3] = ["demo", "admin", "analyst"];

/// The dashboard's 20 queries; `{key}` is a point lookup's key (one per client).
fn dashboard() -> Vec<String> {
    // Queries every user may run (the analyst is denied c_acctbal, which Q10 reads).
    let mut queries: Vec<String> = [1, 3, 4, 5, 6, 12, 14]
        .into_iter()
        .map(tpch_query)
        .collect();
    queries.extend(
        [
            "SELECT customers_nation, MEASURE(revenue), MEASURE(order_count) \
             FROM semantic.orders GROUP BY 1 ORDER BY 1",
            "SELECT order_date_month, MEASURE(order_count) FROM semantic.orders \
             WHERE order_date_year = DATE '1995-01-01' GROUP BY 1 ORDER BY 1",
            "SELECT market_segment, MEASURE(customer_count) FROM semantic.customers \
             GROUP BY 1 ORDER BY 1",
            "SELECT status, MEASURE(revenue) FROM semantic.orders GROUP BY 1 ORDER BY 1",
            "SELECT o_orderpriority, count(*) FROM lake.tpch.orders GROUP BY 1 ORDER BY 1",
            "SELECT c_mktsegment, count(*) FROM lake.tpch.customer GROUP BY 1 ORDER BY 1",
            "SELECT l_shipmode, sum(l_quantity) FROM lake.tpch.lineitem \
             WHERE l_shipdate >= DATE '1996-01-01' GROUP BY 1 ORDER BY 1",
            "SELECT n_name, count(*) FROM lake.tpch.supplier JOIN lake.tpch.nation \
             ON s_nationkey = n_nationkey GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
            "SELECT * FROM lake.tpch.orders WHERE o_orderkey = {key}",
            "SELECT * FROM lake.tpch.customer WHERE c_custkey = {key}",
            "SELECT count(*) FROM lake.tpch.lineitem WHERE l_orderkey = {key}",
            "SELECT p_name, p_retailprice FROM lake.tpch.part WHERE p_partkey = {key}",
            "SELECT r_name FROM lake.tpch.region ORDER BY 1",
        ]
        .map(str::to_string),
    );
    queries
}

/// Runs `rounds` rounds of the dashboard on `clients` clients at once; returns each
/// round's latencies and wall time.
async fn replay(addr: SocketAddr, clients: usize, rounds: usize) -> Vec<(Vec<Duration>, Duration)> {
    let mut connected = Vec::with_capacity(clients);
    for i in 0..clients {
        let client = client_as(addr, USERS[i % USERS.len()])
            .await
            .expect("connect");
        connected.push(Arc::new(client));
    }
    let queries = dashboard();
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let tasks: Vec<_> = connected
            .iter()
            .enumerate()
            .map(|(i, client)| {
                let client = client.clone();
                let queries: Vec<String> = queries
                    .iter()
                    .map(|q| q.replace("{key}", &(i * 37 + 1).to_string()))
                    .collect();
                tokio::spawn(async move {
                    let mut times = Vec::with_capacity(queries.len());
                    for sql in &queries {
                        let at = Instant::now();
                        client.simple_query(sql).await.expect(sql);
                        times.push(at.elapsed());
                    }
                    times
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.expect("client"));
        }
        out.push((latencies, started.elapsed()));
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// One line of figures for rounds `rounds`.
fn report(label: &str, rounds: &[(Vec<Duration>, Duration)]) -> f64 {
    let mut all: Vec<Duration> = rounds.iter().flat_map(|(l, _)| l.clone()).collect();
    all.sort();
    let wall: Duration = rounds.iter().map(|(_, w)| *w).sum();
    let qps = all.len() as f64 / wall.as_secs_f64();
    println!(
        "  {label:<28} {:>6} queries  p50 {:>8.2} ms  p95 {:>8.2} ms  p99 {:>8.2} ms  {:>8.0} q/s",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.95),
        percentile(&all, 0.99),
        qps
    );
    qps
}

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let clients: usize = env_or("BENCH_CLIENTS", 50).max(1);
    let rounds: usize = env_or("BENCH_ROUNDS", 5).max(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        // The audit trail and the history stay on, as in production.
        let mut config = bench_config(dir.path(), scale_factor);
        // Warnings and errors to stderr (RUST_LOG overrides).
        config.log.filter = "warn".into();
        lakegate_gateway::logging::init(&config.log);
        eprintln!("seeding TPC-H SF {scale_factor}");
        let uncached = Gateway::start(config.clone(), false).await?;
        config.cache = CacheConfig::default();
        let cached = Gateway::start(config, false).await?;
        println!(
            "TPC-H SF {scale_factor}, {clients} clients x 20 queries ({} users), \
             results cache off (baseline, 1 round) and on ({rounds} rounds):",
            USERS.len()
        );
        let _ = replay(cached.pg_addr(), 1, 1).await;
        let off = replay(uncached.pg_addr(), clients, 1).await;
        let off_qps = report("cache off", &off);
        let on = replay(cached.pg_addr(), clients, rounds).await;
        report("cache on, first round", &on[..1]);
        let warm_qps = report("cache on, warm rounds", &on[1..]);
        println!(
            "warm / cache off: {:.1}x queries/s (goals: >= 2000 q/s, p95 < 5 ms)",
            warm_qps / off_qps
        );
        // The server's own time for a hit, from the history.
        let admin = client_as(cached.pg_addr(), "admin").await?;
        let rows = admin
            .simple_query(
                "SELECT count(*), approx_percentile_cont(wall_ms, 0.5), \
                 approx_percentile_cont(wall_ms, 0.95) \
                 FROM system.history.queries WHERE cache_hit",
            )
            .await?;
        let first = rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        });
        if let Some(row) = first {
            println!(
                "server-side wall time of {} hits: p50 {} ms, p95 {} ms (goal: < 1 ms)",
                row.get(0).unwrap_or("?"),
                row.get(1).unwrap_or("?"),
                row.get(2).unwrap_or("?")
            );
        }
        cached.shutdown().await;
        uncached.shutdown().await;
        Ok(())
    })
}

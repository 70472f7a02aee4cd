//! Load: many connections at once over both front doors, each sending a mix of
//! statements — prepared point lookups, TPC-H queries, small aggregations, catalog
//! queries, statements that fail, and queries cancelled while they run — as three users
//! with different policies. Counts answers that were not what the statement should give
//! (unexpected errors), and prints latency percentiles, statements/s and the process's
//! peak resident memory; first with the default memory limit, then with one small enough
//! that queries queue for memory and spill.
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --bench load`
//! (BENCH_SF, default 0.1; BENCH_CONNECTIONS, default 200, a quarter of them Flight SQL;
//! BENCH_STATEMENTS per connection, default 100; BENCH_SMALL_MEMORY, default "192MiB").

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use lakegate_benches::{channel, client_as, env_or, tpch_query};
use lakegate_gateway::byte_size::ByteSize;
use lakegate_gateway::server::Gateway;

const USERS: [&str; 3] = ["demo", "admin", "analyst"];

/// What a statement of the mix should give.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Rows,
    /// An error with this SQLSTATE.
    Error(&'static str),
    /// Cancelled while it runs (57014), or done before the cancel arrived.
    Cancelled,
}

/// The `i`-th statement of a connection's mix, and what it should give.
fn statement(i: usize, key: i64) -> (String, Expect) {
    match i % 20 {
        0..=7 => (
            format!("SELECT c_name, c_mktsegment FROM lake.tpch.customer WHERE c_custkey = {key}"),
            Expect::Rows,
        ),
        8 => (
            tpch_query([1, 3, 6, 12, 14][key as usize % 5]),
            Expect::Rows,
        ),
        9..=11 => (
            "SELECT o_orderpriority, count(*) FROM lake.tpch.orders GROUP BY 1 ORDER BY 1".into(),
            Expect::Rows,
        ),
        12 | 13 => (
            "SELECT table_schema, count(*) FROM information_schema.tables GROUP BY 1".into(),
            Expect::Rows,
        ),
        14 => (
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace LIMIT 20"
                .into(),
            Expect::Rows,
        ),
        15 => (
            "SELECT no_such_column FROM lake.tpch.nation".into(),
            Expect::Error("42703"),
        ),
        16 => ("SELECT 1 / 0".into(), Expect::Error("22012")),
        17 => (
            "SELECT count(*) FROM lake.tpch.lineitem a JOIN lake.tpch.lineitem b \
             ON a.l_partkey = b.l_partkey"
                .into(),
            Expect::Cancelled,
        ),
        _ => (
            "SELECT c_mktsegment, count(*), max(c_custkey) FROM lake.tpch.customer GROUP BY 1"
                .into(),
            Expect::Rows,
        ),
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    unexpected: Vec<String>,
}

/// One Postgres wire connection's statements; point lookups are prepared.
async fn pg_connection(addr: SocketAddr, n: usize, statements: usize) -> Tally {
    let mut tally = Tally::default();
    let user = USERS[n % USERS.len()];
    let client = match client_as(addr, user).await {
        Ok(client) => client,
        Err(e) => {
            tally.unexpected.push(format!("connect: {e}"));
            return tally;
        }
    };
    let lookup = client
        .prepare("SELECT c_name, c_mktsegment FROM lake.tpch.customer WHERE c_custkey = $1")
        .await;
    for i in 0..statements {
        let key = ((n * 7919 + i * 104_729) % 15_000 + 1) as i64;
        let (sql, expect) = statement(i, key);
        let started = Instant::now();
        let result = match (i % 20, &lookup, expect) {
            (0..=7, Ok(prepared), _) => client.query(prepared, &[&key]).await.map(|_| ()),
            (_, _, Expect::Cancelled) => {
                let token = client.cancel_token();
                let canceller = tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    // As libpq does: wait until the server handled it, so that
                    // it cannot reach the next statement.
                    let _ = lakegate_tests::cancel::cancel_and_wait(&token, addr).await;
                });
                let result = client.simple_query(&sql).await.map(|_| ());
                let _ = canceller.await;
                result
            }
            _ => client.simple_query(&sql).await.map(|_| ()),
        };
        tally.latencies.push(started.elapsed());
        let code = result
            .as_ref()
            .err()
            .and_then(|e| e.code().map(|c| c.code().to_string()));
        let expected = match (expect, &result) {
            (Expect::Rows, Ok(())) => true,
            (Expect::Error(want), Err(_)) => code.as_deref() == Some(want),
            (Expect::Cancelled, Ok(())) => true,
            (Expect::Cancelled, Err(_)) => code.as_deref() == Some("57014"),
            _ => false,
        };
        if !expected {
            tally.unexpected.push(format!(
                "postgres {user}: {sql}: {}",
                result.err().map_or_else(
                    || "answered".to_string(),
                    |e| e.as_db_error().map_or_else(
                        || e.to_string(),
                        |d| format!("{} {}", d.code().code(), d.message())
                    )
                )
            ));
        }
    }
    tally
}

/// One Flight SQL connection's statements (no cancels: a dropped stream is the Flight
/// cancel, measured in the slow-client tests).
async fn flight_connection(addr: SocketAddr, n: usize, statements: usize) -> Tally {
    let mut tally = Tally::default();
    let user = USERS[n % USERS.len()];
    let mut client = match channel(format!("http://{addr}")).await {
        Ok(channel) => FlightSqlServiceClient::new(channel),
        Err(e) => {
            tally.unexpected.push(format!("flight connect: {e}"));
            return tally;
        }
    };
    if let Err(e) = client.handshake(user, user).await {
        tally.unexpected.push(format!("flight handshake: {e}"));
        return tally;
    }
    for i in 0..statements {
        let key = ((n * 7919 + i * 104_729) % 15_000 + 1) as i64;
        let (sql, expect) = statement(i, key);
        if expect == Expect::Cancelled {
            continue;
        }
        let started = Instant::now();
        let result = async {
            let info = client.execute(sql.clone(), None).await?;
            for endpoint in info.endpoint {
                if let Some(ticket) = endpoint.ticket {
                    let _: Vec<_> = client.do_get(ticket).await?.try_collect().await?;
                }
            }
            Ok::<_, arrow_flight::error::FlightError>(())
        }
        .await;
        tally.latencies.push(started.elapsed());
        let sqlstate = |e: &arrow_flight::error::FlightError| match e {
            arrow_flight::error::FlightError::Tonic(status) => status
                .metadata()
                .get(lakegate_gateway::flight::SQLSTATE_KEY)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            _ => None,
        };
        let expected = match (expect, &result) {
            (Expect::Rows, Ok(())) => true,
            (Expect::Error(want), Err(e)) => sqlstate(e).as_deref() == Some(want),
            _ => false,
        };
        if !expected {
            tally.unexpected.push(format!(
                "flight {user}: {sql}: {}",
                result
                    .err()
                    .map_or_else(|| "answered".into(), |e| e.to_string())
            ));
        }
    }
    tally
}

/// Resident and peak resident memory of this process (server and clients), in MiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

async fn load(gateway: &Gateway, connections: usize, statements: usize, label: &str) {
    let flight = gateway.flight_addr().expect("Flight SQL is on");
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(memory().0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let before = queued_and_spilled(gateway.pg_addr())
        .await
        .unwrap_or((0, 0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|n| {
            let pg = gateway.pg_addr();
            tokio::spawn(async move {
                if n % 4 == 3 {
                    flight_connection(flight, n, statements).await
                } else {
                    pg_connection(pg, n, statements).await
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut unexpected = Vec::new();
    for task in tasks {
        let tally = task.await.expect("connection task");
        latencies.extend(tally.latencies);
        unexpected.extend(tally.unexpected);
    }
    let elapsed = started.elapsed();
    sampler.abort();
    latencies.sort();
    println!(
        "{label}: {connections} connections x {statements} statements: {} statements in \
         {:.1} s = {:.0}/s; p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms; unexpected answers: {}; \
         peak resident memory {} MiB",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
        unexpected.len(),
        peak.load(Ordering::Relaxed)
    );
    for line in unexpected.iter().take(10) {
        println!("  unexpected: {line}");
    }
    match queued_and_spilled(gateway.pg_addr()).await {
        Ok((queued, spilled)) => println!(
            "  in the history: {} statements waited over 10 ms for a slot or memory, {} \
             spilled",
            queued - before.0,
            spilled - before.1
        ),
        Err(e) => println!("  history not read: {e}"),
    }
}

/// Statements of this gateway's history that waited in a queue, and that spilled.
async fn queued_and_spilled(addr: SocketAddr) -> anyhow::Result<(i64, i64)> {
    let admin = client_as(addr, "admin").await?;
    let row = admin
        .query_one(
            "SELECT CAST(sum(CASE WHEN queue_ms > 10 THEN 1 ELSE 0 END) AS BIGINT), \
                    CAST(sum(CASE WHEN spilled_bytes > 0 THEN 1 ELSE 0 END) AS BIGINT) \
             FROM system.history.queries",
            &[],
        )
        .await?;
    Ok((
        row.get::<_, Option<i64>>(0).unwrap_or(0),
        row.get::<_, Option<i64>>(1).unwrap_or(0),
    ))
}

fn main() -> anyhow::Result<()> {
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let connections: usize = env_or("BENCH_CONNECTIONS", 200).max(4);
    let statements: usize = env_or("BENCH_STATEMENTS", 100).max(1);
    let small: String = env_or("BENCH_SMALL_MEMORY", "192MiB".to_string());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(lakegate_planner::THREAD_STACK_BYTES)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let dir = lakegate_benches::BenchDir::new(scale_factor)?;
        let mut config = lakegate_benches::bench_config(dir.path(), scale_factor);
        config.log.filter = "error".into();
        lakegate_gateway::logging::init(&config.log);
        config.pg.max_connections = connections + 10;
        config.flight.max_connections = connections + 10;
        config.flight.max_streams_per_user = connections;
        eprintln!("seeding TPC-H SF {scale_factor}");
        let gateway = Gateway::start(config.clone(), false).await?;
        println!(
            "TPC-H SF {scale_factor}; a quarter of the connections Flight SQL; per 20 \
             statements: 8 prepared point lookups, 1 TPC-H query, 3 small aggregations, 3 \
             catalog queries, 2 errors, 1 cancel, 2 aggregations"
        );
        load(&gateway, connections, statements, "default memory limit").await;
        gateway.shutdown().await;

        config.query.memory_limit = ByteSize::parse(&small).map_err(anyhow::Error::msg)?;
        config.query.per_query_memory_limit = None;
        let limited = Gateway::start(config, false).await?;
        load(
            &limited,
            connections,
            statements,
            &format!("memory_limit {small}"),
        )
        .await;
        limited.shutdown().await;
        let (_, hwm) = memory();
        println!("process peak resident memory over both runs: {hwm} MiB");
        Ok(())
    })
}

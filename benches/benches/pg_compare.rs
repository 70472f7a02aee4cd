//! The gateway against PostgreSQL 15 on the same machine, in one run: rows/s for
//! `SELECT * FROM lineitem` (text results by the simple protocol, binary results by the
//! extended protocol) and for `COPY lineitem TO STDOUT` in text and binary, with the same
//! client (tokio-postgres) reading the same rows. PostgreSQL gets the gateway's lineitem,
//! loaded with COPY, and a warm-up read so it serves from its buffer cache.
//!
//! Needs a PostgreSQL server (`apt-get install postgresql`) and its `postgres` OS user
//! (the Debian package creates it). Run:
//! `cargo bench --profile fast -p lakegate-benches --bench pg_compare`
//! (BENCH_SF, default 0.1; BENCH_RUNS, default 3; medians are reported; BENCH_CASES, a
//! comma-separated list of words, keeps the cases whose names contain one;
//! BENCH_DATA_DIR keeps the seeded warehouse between runs).

use std::time::{Duration, Instant};

use futures::{StreamExt, pin_mut};
use lakegate_benches::{BenchDir, bench_config, binary_rows, copy_into_postgres, env_or, median};
use lakegate_gateway::server::Gateway;
use lakegate_tests::postgres_server::PostgresServer;
use lakegate_tests::raw_client::RawClient;

const LINEITEM: &str = "CREATE TABLE lineitem (
    l_orderkey bigint, l_partkey bigint, l_suppkey bigint, l_linenumber integer,
    l_quantity numeric(15,2), l_extendedprice numeric(15,2), l_discount numeric(15,2),
    l_tax numeric(15,2), l_returnflag text, l_linestatus text, l_shipdate date,
    l_commitdate date, l_receiptdate date, l_shipinstruct text, l_shipmode text,
    l_comment text)";

async fn connect(conn: &str) -> anyhow::Result<tokio_postgres::Client> {
    for _ in 0..100 {
        if let Ok((client, connection)) = tokio_postgres::connect(conn, tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            return Ok(client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("could not connect: {conn}")
}

async fn text_rows(client: &tokio_postgres::Client, sql: &str) -> u64 {
    let stream = client.simple_query_raw(sql).await.expect("query");
    pin_mut!(stream);
    let mut rows = 0;
    while let Some(message) = stream.next().await {
        if let tokio_postgres::SimpleQueryMessage::Row(_) = message.expect("message") {
            rows += 1;
        }
    }
    rows
}

/// Rows of a COPY: one CopyData message per row, the way both servers send them.
async fn copy_rows(client: &tokio_postgres::Client, sql: &str) -> u64 {
    let stream = client.copy_out(sql).await.expect("copy");
    pin_mut!(stream);
    let mut messages = 0;
    while let Some(chunk) = stream.next().await {
        chunk.expect("copy data");
        messages += 1;
    }
    messages
}

/// Reads every row of one case.
async fn measure(case: &str, client: &tokio_postgres::Client, sql: &str) -> u64 {
    match case {
        "SELECT * text" => text_rows(client, sql).await,
        "SELECT * binary" => binary_rows(client, sql).await,
        _ => copy_rows(client, sql).await,
    }
}

/// The median rows/s over `runs` runs.
async fn rate<F, Fut>(runs: usize, mut run: F) -> (f64, u64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let started = Instant::now();
        rows = run().await;
        times.push(started.elapsed());
    }
    (rows as f64 / median(times).as_secs_f64(), rows)
}

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let runs: usize = env_or("BENCH_RUNS", 3).max(1);
    // The gateway serves from runtime threads of its own, as PostgreSQL serves from a
    // process of its own; the client reads on a single thread in both cases.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = BenchDir::new(scale_factor)?;
    eprintln!("seeding TPC-H SF {scale_factor}");
    let gateway = server_runtime.block_on(Gateway::start(
        bench_config(dir.path(), scale_factor),
        false,
    ))?;
    let addr = gateway.pg_addr();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let postgres = PostgresServer::start_with(&["shared_buffers=512MB", "log_statement=none"])
            .ok_or_else(|| {
                anyhow::anyhow!("PostgreSQL is not installed (apt-get install postgresql)")
            })?;
        let lake = connect(&format!(
            "host={} port={} user=demo password=demo dbname=lake",
            addr.ip(),
            addr.port()
        ))
        .await?;
        let pg = postgres.connect().await;

        // The same rows in PostgreSQL: the gateway's COPY text straight into COPY FROM.
        pg.batch_execute(LINEITEM).await?;
        let loaded = copy_into_postgres(
            &lake,
            &pg,
            "COPY lake.tpch.lineitem TO STDOUT",
            "COPY lineitem FROM STDIN",
        )
        .await?;
        pg.batch_execute("VACUUM ANALYZE lineitem").await?;
        eprintln!("loaded {loaded} rows into PostgreSQL 15");

        let all_cases: [(&str, &str, &str); 4] = [
            (
                "SELECT * text",
                "SELECT * FROM lake.tpch.lineitem",
                "SELECT * FROM lineitem",
            ),
            (
                "SELECT * binary",
                "SELECT * FROM lake.tpch.lineitem",
                "SELECT * FROM lineitem",
            ),
            (
                "COPY text",
                "COPY lake.tpch.lineitem TO STDOUT",
                "COPY lineitem TO STDOUT",
            ),
            (
                "COPY binary",
                "COPY lake.tpch.lineitem TO STDOUT (FORMAT binary)",
                "COPY lineitem TO STDOUT (FORMAT binary)",
            ),
        ];
        let wanted = std::env::var("BENCH_CASES").unwrap_or_default();
        let wanted: Vec<&str> = wanted.split(',').filter(|w| !w.is_empty()).collect();
        let cases: Vec<(&str, &str, &str)> = all_cases
            .into_iter()
            .filter(|(name, ..)| wanted.is_empty() || wanted.iter().any(|w| name.contains(w)))
            .collect();
        println!(
            "lineitem at SF {scale_factor}: {loaded} rows; median of {runs} runs; \
             tokio-postgres reading every row"
        );
        println!(
            "{:<16} {:>14} {:>14} {:>8}",
            "", "gateway rows/s", "pg15 rows/s", "ratio"
        );
        for &(name, ours, theirs) in &cases {
            // Warm both: PostgreSQL's buffer cache, the gateway's file cache and plans.
            measure(name, &lake, ours).await;
            measure(name, &pg, theirs).await;
            let (gateway_rate, gateway_rows) = rate(runs, || measure(name, &lake, ours)).await;
            let (pg_rate, _) = rate(runs, || measure(name, &pg, theirs)).await;
            assert!(gateway_rows >= loaded, "{name}: {gateway_rows} rows");
            println!(
                "{name:<16} {gateway_rate:>14.0} {pg_rate:>14.0} {:>7.2}x",
                gateway_rate / pg_rate
            );
        }
        // The same with a client that frames messages and counts rows without decoding
        // them: what each server can send, rather than what tokio-postgres can decode.
        let pg_addr: std::net::SocketAddr = format!("127.0.0.1:{}", postgres.port).parse()?;
        let mut raw_lake = RawClient::connect(addr, "demo", "demo", "lake").await?;
        let mut raw_pg = RawClient::connect(pg_addr, "postgres", "", "postgres").await?;
        println!("raw client (frames rows, decodes nothing):");
        for (name, ours, theirs) in cases {
            let binary = name == "SELECT * binary";
            let mut gateway_times = Vec::new();
            let mut pg_times = Vec::new();
            for round in 0..=runs {
                let started = Instant::now();
                let rows = if binary {
                    raw_lake.binary(ours).await?
                } else {
                    raw_lake.simple(ours).await?
                };
                let gateway_elapsed = started.elapsed();
                let started = Instant::now();
                if binary {
                    raw_pg.binary(theirs).await?;
                } else {
                    raw_pg.simple(theirs).await?;
                }
                let pg_elapsed = started.elapsed();
                assert!(rows >= loaded, "{name}: {rows} rows");
                // Round 0 warms both.
                if round > 0 {
                    gateway_times.push(gateway_elapsed);
                    pg_times.push(pg_elapsed);
                }
            }
            let gateway_rate = loaded as f64 / median(gateway_times).as_secs_f64();
            let pg_rate = loaded as f64 / median(pg_times).as_secs_f64();
            println!(
                "{name:<16} {gateway_rate:>14.0} {pg_rate:>14.0} {:>7.2}x",
                gateway_rate / pg_rate
            );
        }
        Ok::<_, anyhow::Error>(())
    })?;
    drop(gateway);
    drop(server_runtime);
    Ok(())
}

//! Postgres wire overhead: rows/s streaming `SELECT * FROM lake.tpch.lineitem` and the
//! time of TPC-H Q1 through tokio-postgres, each as a ratio against the same query run
//! in-process through the planner and DataFusion with no wire.
//!
//! Run: `cargo bench --profile fast -p lakegate-benches` (BENCH_SF sets the scale
//! factor, default 0.1; BENCH_RUNS the repetitions, default 3; the median is reported).

use std::time::{Duration, Instant};

use futures::{StreamExt, pin_mut};
use lakegate_benches::{bench_config, env_or, median, run_in_process, session, tpch_query};
use lakegate_gateway::server::Gateway;

async fn over_wire_binary(client: &tokio_postgres::Client, sql: &str) -> (u64, Duration) {
    let started = Instant::now();
    let stream = client
        .query_raw(sql, Vec::<i64>::new())
        .await
        .expect("query");
    pin_mut!(stream);
    let mut rows = 0u64;
    while let Some(row) = stream.next().await {
        row.expect("row");
        rows += 1;
    }
    (rows, started.elapsed())
}

async fn over_wire_text(client: &tokio_postgres::Client, sql: &str) -> (u64, Duration) {
    let started = Instant::now();
    let stream = client.simple_query_raw(sql).await.expect("query");
    pin_mut!(stream);
    let mut rows = 0u64;
    while let Some(message) = stream.next().await {
        if let tokio_postgres::SimpleQueryMessage::Row(_) = message.expect("message") {
            rows += 1;
        }
    }
    (rows, started.elapsed())
}

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let runs: usize = env_or("BENCH_RUNS", 3).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        let config = bench_config(dir.path(), scale_factor);
        eprintln!(
            "seeding TPC-H SF {scale_factor} into {}",
            dir.path().display()
        );
        let gateway = Gateway::start(config, false).await?;
        let addr = gateway.pg_addr();
        let client = lakegate_benches::demo_client(addr).await?;
        let service = gateway.service().clone();
        let q1 = tpch_query(1);
        let mut base_session = session(&service, "demo");
        let scan = "SELECT * FROM lake.tpch.lineitem";

        // Warm the OS page cache and the catalog once.
        run_in_process(&service, &mut base_session, scan, true).await;

        let mut base = Vec::new();
        let mut binary = Vec::new();
        let mut text = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let (r, t) = run_in_process(&service, &mut base_session, scan, true).await;
            rows = r;
            base.push(t);
            let (r2, t) = over_wire_binary(&client, scan).await;
            assert_eq!(r, r2, "binary row count");
            binary.push(t);
            let (r3, t) = over_wire_text(&client, scan).await;
            assert_eq!(r, r3, "text row count");
            text.push(t);
        }
        let (base, binary, text) = (median(base), median(binary), median(text));
        let rate = |d: Duration| rows as f64 / d.as_secs_f64();
        println!("lineitem scan, SF {scale_factor}, {rows} rows, median of {runs}:");
        println!(
            "  in-process (DataFusion, no wire): {:>12.0} rows/s",
            rate(base)
        );
        println!(
            "  Postgres wire, binary:            {:>12.0} rows/s  ratio {:.2}x of in-process time",
            rate(binary),
            binary.as_secs_f64() / base.as_secs_f64()
        );
        println!(
            "  Postgres wire, text:              {:>12.0} rows/s  ratio {:.2}x of in-process time",
            rate(text),
            text.as_secs_f64() / base.as_secs_f64()
        );

        let mut base = Vec::new();
        let mut wire = Vec::new();
        for _ in 0..runs {
            base.push(
                run_in_process(&service, &mut base_session, &q1, true)
                    .await
                    .1,
            );
            client.batch_execute("SET search_path = tpch").await?;
            wire.push(over_wire_text(&client, &q1).await.1);
        }
        let (base, wire) = (median(base), median(wire));
        println!("TPC-H Q1, median of {runs}:");
        println!("  in-process: {:>8.1} ms", base.as_secs_f64() * 1000.0);
        println!(
            "  wire:       {:>8.1} ms  overhead {:+.1}%",
            wire.as_secs_f64() * 1000.0,
            (wire.as_secs_f64() / base.as_secs_f64() - 1.0) * 100.0
        );
        gateway.shutdown().await;
        Ok(())
    })
}

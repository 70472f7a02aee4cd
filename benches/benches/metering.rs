//! Cost of metering: the 22 TPC-H queries run in-process through two QueryServices over
//! the same lakehouse, one metering every query (counting storage, CPU time on every
//! operator, a peak-memory pool) and one with `[finops] metering = false`, alternated,
//! as ratios per query and in total. Goal: under 2% (total ratio below 1.02).
//! Then, per query, the bytes EXPLAIN COST estimated from the manifests against the
//! bytes the metered run read.
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --bench metering`
//! (BENCH_SF, default 0.1; BENCH_RUNS, default 5; BENCH_QUERIES, e.g. `2,18`, default
//! all 22; BENCH_HISTORY=off to meter without writing the query history).

use std::time::Duration;

use lakegate_benches::{
    alternated_medians, bench_config, cost_figure, env_or, run_in_process, session, tpch_query,
};
use lakegate_gateway::server::Gateway;

/// The total bytes EXPLAIN COST estimates for the last statement of `sql`.
async fn explain_cost_bytes(
    service: &lakegate_planner::QueryService,
    session: &mut lakegate_planner::Session,
    sql: &str,
) -> u64 {
    use futures::StreamExt;
    let mut total = 0;
    for statement in service
        .parse(session, &format!("EXPLAIN COST {sql}"))
        .expect("parse")
    {
        let prepared = service.prepare_to_run(sql, statement);
        let outcome = service
            .execute(session, &prepared, Vec::new())
            .await
            .expect("explain cost");
        if let lakegate_planner::Outcome::Rows { mut stream, .. } = outcome {
            while let Some(batch) = stream.next().await {
                let batch = batch.expect("batch");
                let names = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::StringArray>()
                    .expect("names");
                let bytes = batch
                    .column(3)
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::Int64Array>()
                    .expect("bytes");
                for i in 0..batch.num_rows() {
                    if names.value(i) == "(total)" {
                        total = bytes.value(i) as u64;
                    }
                }
            }
        }
    }
    total
}

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let runs: usize = env_or("BENCH_RUNS", 5).max(1);
    let queries: Vec<usize> = std::env::var("BENCH_QUERIES")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .filter(|n| (1..=22).contains(n))
                .collect()
        })
        .unwrap_or_else(|| (1..=22).collect());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        let mut config = bench_config(dir.path(), scale_factor);
        config.audit.enabled = false;
        // BENCH_HISTORY=off leaves the history out, to tell its share of the cost.
        config.finops.history.enabled = env_or("BENCH_HISTORY", String::from("on")) != "off";
        eprintln!("seeding TPC-H SF {scale_factor}");
        let metered = Gateway::start(config.clone(), false).await?;
        config.finops.metering = false;
        let plain = Gateway::start(config, false).await?;
        let mut on = session(metered.service(), "demo");
        let mut off = session(plain.service(), "demo");

        println!("TPC-H SF {scale_factor}, metered vs not, median of {runs} alternated runs:");
        let (mut total_on, mut total_off) = (Duration::ZERO, Duration::ZERO);
        for &n in &queries {
            let sql = tpch_query(n);
            let (rows_on, _) = run_in_process(metered.service(), &mut on, &sql, true).await;
            let (rows_off, _) = run_in_process(plain.service(), &mut off, &sql, true).await;
            assert_eq!(rows_on, rows_off, "Q{n}: metering changes no result");
            let (b, a) = alternated_medians(runs, async |metered_side| match metered_side {
                true => {
                    run_in_process(metered.service(), &mut on, &sql, true)
                        .await
                        .1
                }
                false => {
                    run_in_process(plain.service(), &mut off, &sql, true)
                        .await
                        .1
                }
            })
            .await;
            total_on += a;
            total_off += b;
            println!(
                "  Q{n:<2} without {:>8.1} ms, metered {:>8.1} ms, ratio {:.3}",
                b.as_secs_f64() * 1000.0,
                a.as_secs_f64() * 1000.0,
                a.as_secs_f64() / b.as_secs_f64()
            );
        }
        println!(
            "all {}: without {:.1} ms, metered {:.1} ms, ratio {:.3} (goal < 1.02)",
            queries.len(),
            total_off.as_secs_f64() * 1000.0,
            total_on.as_secs_f64() * 1000.0,
            total_on.as_secs_f64() / total_off.as_secs_f64()
        );

        println!("estimate (EXPLAIN COST) vs bytes read, per query:");
        on.set_setting("gateway.show_cost", "on")?;
        let (mut all_estimated, mut all_read) = (0u64, 0u64);
        for &n in &queries {
            let sql = tpch_query(n);
            let estimated = explain_cost_bytes(metered.service(), &mut on, &sql).await;
            on.take_notices();
            run_in_process(metered.service(), &mut on, &sql, true).await;
            let read = cost_figure(&on, "bytes_scanned");
            all_estimated += estimated;
            all_read += read;
            println!(
                "  Q{n:<2} estimated {estimated:>10} bytes, read {read:>10}, ratio {:.2}",
                estimated as f64 / read.max(1) as f64
            );
        }
        println!(
            "all {}: estimated {all_estimated} bytes, read {all_read}, ratio {:.2}",
            queries.len(),
            all_estimated as f64 / all_read.max(1) as f64
        );
        metered.shutdown().await;
        plain.shutdown().await;
        Ok(())
    })
}

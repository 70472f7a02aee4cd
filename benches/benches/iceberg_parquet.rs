//! TPC-H over Iceberg against the same Parquet files read directly: DataFusion over the
//! Iceberg tables (iceberg-datafusion's scan of the current snapshot), DataFusion over
//! the tables' data files registered as plain Parquet tables, and the gateway's
//! QueryService (Iceberg, plus security and metering) with Iceberg's reader and with
//! DataFusion's Parquet scan over the files Iceberg plans (`[query] native_iceberg_scan`),
//! all in one process over one lakehouse, alternated; ratios per query and in total
//! against plain Parquet.
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --bench iceberg_parquet`
//! (BENCH_SF, default 0.1; BENCH_RUNS, default 5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use iceberg_datafusion::IcebergStaticTableProvider;
use lakegate_benches::{bench_config, env_or, median, run_in_process, session, tpch_query};
use lakegate_catalog::tpch::TABLES;
use lakegate_gateway::server::Gateway;

/// Runs `sql` to the last row on a DataFusion context; rows and time.
async fn run(ctx: &SessionContext, sql: &str) -> (u64, Duration) {
    let started = Instant::now();
    let mut rows = 0;
    let frame = ctx.sql(sql).await.expect("plan");
    let mut stream = frame.execute_stream().await.expect("execute");
    while let Some(batch) = stream.next().await {
        rows += batch.expect("batch").num_rows() as u64;
    }
    (rows, started.elapsed())
}

fn context(partitions: usize) -> SessionContext {
    SessionContext::new_with_config(
        SessionConfig::new()
            .with_target_partitions(partitions)
            .with_default_catalog_and_schema("lake", "tpch")
            .with_create_default_catalog_and_schema(true),
    )
}

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let runs: usize = env_or("BENCH_RUNS", 5).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        let mut config = bench_config(dir.path(), scale_factor);
        config.audit.enabled = false;
        config.finops.history.enabled = false;
        // The first gateway reads with Iceberg's reader, the second with DataFusion's.
        config.query.native_iceberg_scan = false;
        eprintln!("seeding TPC-H SF {scale_factor}");
        let gateway = Gateway::start(config.clone(), false).await?;
        // A second gateway over the same lakehouse, reading with DataFusion's scan.
        let mut native_config = config.clone();
        native_config.query.native_iceberg_scan = true;
        let native = Gateway::start(native_config, false).await?;
        let mut native_session = session(native.service(), "admin");
        let partitions = config.query.target_partitions;
        let lake = gateway
            .service()
            .registry()
            .get("lake")
            .expect("catalog lake")
            .lake
            .clone();
        let warehouse = lakegate_benches::embedded_warehouse(&config).expect("the embedded catalog");
        let iceberg = context(partitions);
        let parquet = context(partitions);
        for table in TABLES {
            let name = table.name();
            let loaded = lake
                .load_table("tpch", name)
                .await?
                .expect("seeded table");
            let data = format!("{}/tpch/{name}/data/", warehouse.display());
            iceberg.register_table(
                name,
                Arc::new(IcebergStaticTableProvider::try_new_from_table(loaded).await?),
            )?;
            parquet
                .register_parquet(name, &data, ParquetReadOptions::default())
                .await?;
        }
        let mut gateway_session = session(gateway.service(), "admin");

        println!(
            "TPC-H SF {scale_factor}: Iceberg and the gateway against the same Parquet read \
             directly, median of {runs} alternated runs:"
        );
        let mut totals = [Duration::ZERO; 4];
        for n in 1..=22 {
            let sql = tpch_query(n);
            let expected = run(&parquet, &sql).await.0;
            assert_eq!(run(&iceberg, &sql).await.0, expected, "Q{n} over Iceberg");
            assert_eq!(
                run_in_process(gateway.service(), &mut gateway_session, &sql, true)
                    .await
                    .0,
                expected,
                "Q{n} through the gateway"
            );
            assert_eq!(
                run_in_process(native.service(), &mut native_session, &sql, true)
                    .await
                    .0,
                expected,
                "Q{n} through the gateway's native scan"
            );
            let mut samples: [Vec<Duration>; 4] = Default::default();
            for _ in 0..runs {
                samples[0].push(run(&parquet, &sql).await.1);
                samples[1].push(run(&iceberg, &sql).await.1);
                samples[2].push(
                    run_in_process(gateway.service(), &mut gateway_session, &sql, true)
                        .await
                        .1,
                );
                samples[3].push(
                    run_in_process(native.service(), &mut native_session, &sql, true)
                        .await
                        .1,
                );
            }
            let [p, i, g, n_] = samples.map(median);
            totals[0] += p;
            totals[1] += i;
            totals[2] += g;
            totals[3] += n_;
            println!(
                "  Q{n:<2} parquet {:>8.1} ms, iceberg {:>8.1} ms ({:.3}), gateway {:>8.1} ms ({:.3}), native {:>8.1} ms ({:.3})",
                p.as_secs_f64() * 1000.0,
                i.as_secs_f64() * 1000.0,
                i.as_secs_f64() / p.as_secs_f64(),
                g.as_secs_f64() * 1000.0,
                g.as_secs_f64() / p.as_secs_f64(),
                n_.as_secs_f64() * 1000.0,
                n_.as_secs_f64() / p.as_secs_f64(),
            );
        }
        let [p, i, g, n_] = totals;
        println!(
            "all 22: parquet {:.1} ms, iceberg {:.1} ms, ratio {:.3}; gateway {:.1} ms, ratio {:.3}; gateway native scan {:.1} ms, ratio {:.3}",
            p.as_secs_f64() * 1000.0,
            i.as_secs_f64() * 1000.0,
            i.as_secs_f64() / p.as_secs_f64(),
            g.as_secs_f64() * 1000.0,
            g.as_secs_f64() / p.as_secs_f64(),
            n_.as_secs_f64() * 1000.0,
            n_.as_secs_f64() / p.as_secs_f64(),
        );
        anyhow::Ok(())
    })
}

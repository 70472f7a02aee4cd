//! A federated PostgreSQL source with and without pushdown: the same database registered
//! twice (`crm` pushes filters, aggregates and joins down as SQL; `crm_raw` reads the
//! projected columns of every row), a filter, an aggregate and a cross-source join with
//! the Iceberg `lake.tpch.customer`, in one process, alternated. Prints, per query, the
//! rows the sources returned (the meter's `rows_scanned`; for the join it includes the
//! Iceberg customers, the same on both sides) and the time, as ratios raw / pushdown.
//!
//! Needs a PostgreSQL server (`apt-get install postgresql`). Run:
//! `cargo bench --profile fast -p lakegate-benches --bench federation`
//! (BENCH_SF, default 0.1; BENCH_ROWS, accounts rows, default 500000; BENCH_RUNS,
//! default 5).

use lakegate_benches::{
    alternated_medians, bench_config, cost_figure, env_or, run_in_process, session,
};
use lakegate_catalog::{CatalogConfig, CatalogType};
use lakegate_gateway::server::Gateway;
use lakegate_tests::postgres_server::PostgresServer;

fn postgres_catalog(name: &str, server: &PostgresServer, pushdown: bool) -> CatalogConfig {
    CatalogConfig {
        name: name.into(),
        kind: CatalogType::Postgres,
        uri: Some(server.conn_str()),
        pushdown: Some(pushdown),
        ..Default::default()
    }
}

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let rows: u64 = env_or("BENCH_ROWS", 500_000);
    let runs: usize = env_or("BENCH_RUNS", 5).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = PostgresServer::start_with(&["log_statement=none", "shared_buffers=256MB"])
            .ok_or_else(|| anyhow::anyhow!("PostgreSQL is not installed"))?;
        let pg = server.connect().await;
        // Accounts keyed to TPC-H customers, ten regions.
        let customers = (150_000.0 * scale_factor) as u64;
        pg.batch_execute(&format!(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, name text, region text, \
             custkey bigint, balance numeric(12,2));
             INSERT INTO accounts SELECT i, 'account ' || i, 'R' || (i % 10), \
               1 + i % {customers}, (i % 10000) / 3.0 FROM generate_series(1, {rows}) i;"
        ))
        .await?;
        // Not in the batch above: VACUUM cannot run inside its implicit transaction.
        pg.batch_execute("VACUUM ANALYZE accounts").await?;

        let dir = tempfile::tempdir()?;
        let mut config = bench_config(dir.path(), scale_factor);
        config.audit.enabled = false;
        config.finops.history.enabled = false;
        let mut catalogs = config.effective_catalogs();
        catalogs.push(postgres_catalog("crm", &server, true));
        catalogs.push(postgres_catalog("crm_raw", &server, false));
        config.catalogs = catalogs;
        eprintln!("seeding TPC-H SF {scale_factor}");
        let gateway = Gateway::start(config, false).await?;
        let mut admin = session(gateway.service(), "admin");
        admin.set_setting("gateway.show_cost", "on")?;

        let queries = [
            (
                "filter",
                "SELECT name, balance FROM {c}.public.accounts \
                 WHERE region = 'R3' AND balance > 3000",
            ),
            (
                "aggregate",
                "SELECT region, count(*), sum(balance) FROM {c}.public.accounts GROUP BY region",
            ),
            (
                "join with Iceberg",
                "SELECT c.c_mktsegment, count(*), sum(a.balance) FROM {c}.public.accounts a \
                 JOIN lake.tpch.customer c ON a.custkey = c.c_custkey \
                 WHERE a.region = 'R3' AND a.balance > 3000 GROUP BY 1",
            ),
        ];
        println!(
            "PostgreSQL accounts ({rows} rows) with and without pushdown, TPC-H SF \
             {scale_factor}, median of {runs} alternated runs:"
        );
        for (name, template) in queries {
            let pushed = template.replace("{c}", "crm");
            let raw = template.replace("{c}", "crm_raw");
            let (rows_pushed, _) =
                run_in_process(gateway.service(), &mut admin, &pushed, true).await;
            let read_pushed = cost_figure(&admin, "rows_scanned");
            let (rows_raw, _) = run_in_process(gateway.service(), &mut admin, &raw, true).await;
            let read_raw = cost_figure(&admin, "rows_scanned");
            assert_eq!(rows_pushed, rows_raw, "{name}: pushdown changes no result");
            let (with, without) = alternated_medians(runs, async |raw_side| {
                let sql = if raw_side { &raw } else { &pushed };
                let (_, took) = run_in_process(gateway.service(), &mut admin, sql, true).await;
                admin.take_notices();
                took
            })
            .await;
            println!(
                "  {name:<18} rows read: pushdown {read_pushed:>8}, raw {read_raw:>8} \
                 ({:.1}x); time: pushdown {:>8.1} ms, raw {:>8.1} ms ({:.2}x)",
                read_raw as f64 / read_pushed.max(1) as f64,
                with.as_secs_f64() * 1000.0,
                without.as_secs_f64() * 1000.0,
                without.as_secs_f64() / with.as_secs_f64(),
            );
        }
        gateway.shutdown().await;
        Ok(())
    })
}

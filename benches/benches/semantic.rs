//! The semantic layer's cost: semantic queries over the demo models against their
//! hand-written SQL over the TPC-H base tables, run in-process through the same
//! QueryService (results cache off), alternated, as ratios (goal: at most 1.05); then a
//! cache hit's latency against the same query run (cache on).
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --bench semantic`
//! (BENCH_SF, default 0.1; BENCH_RUNS, default 9).

use std::time::Duration;

use lakegate_benches::{alternated_medians, bench_config, env_or, run_in_process, session};
use lakegate_gateway::server::Gateway;

/// (name, semantic query, hand-written equivalent).
const CASES: &[(&str, &str, &str)] = &[
    (
        "revenue by nation",
        "SELECT customers_nation, MEASURE(revenue), MEASURE(order_count), average_order_value \
         FROM semantic.orders GROUP BY 1 ORDER BY 1",
        "SELECT n_name, sum(o_totalprice), count(*), sum(o_totalprice) / count(*) \
         FROM lake.tpch.orders JOIN lake.tpch.customer ON o_custkey = c_custkey \
         JOIN lake.tpch.nation ON c_nationkey = n_nationkey GROUP BY 1 ORDER BY 1",
    ),
    (
        "orders by month, 1995",
        "SELECT order_date_month, MEASURE(order_count), MEASURE(urgent_revenue) \
         FROM semantic.orders WHERE order_date_year = DATE '1995-01-01' GROUP BY 1 ORDER BY 1",
        "SELECT CAST(date_trunc('month', o_orderdate) AS DATE), count(*), \
         sum(CASE WHEN o_orderpriority = '1-URGENT' THEN o_totalprice END) \
         FROM lake.tpch.orders WHERE o_orderdate >= DATE '1995-01-01' \
         AND o_orderdate < DATE '1996-01-01' GROUP BY 1 ORDER BY 1",
    ),
    (
        "customers and revenue by segment (two models)",
        "SELECT market_segment, MEASURE(customer_count), MEASURE(orders_revenue) \
         FROM semantic.customers GROUP BY 1 ORDER BY 1",
        "SELECT c.seg, c.n, o.rev FROM \
         (SELECT c_mktsegment AS seg, count(*) AS n FROM lake.tpch.customer GROUP BY 1) c \
         JOIN (SELECT c_mktsegment AS seg, sum(o_totalprice) AS rev FROM lake.tpch.orders \
               JOIN lake.tpch.customer ON o_custkey = c_custkey GROUP BY 1) o ON c.seg = o.seg \
         ORDER BY 1",
    ),
    (
        "customers by order status (fan-out)",
        "SELECT orders_status, MEASURE(customer_count) FROM semantic.customers GROUP BY 1 ORDER BY 1",
        "SELECT o_orderstatus, count(DISTINCT c_custkey) FROM lake.tpch.customer \
         JOIN lake.tpch.orders ON o_custkey = c_custkey GROUP BY 1 ORDER BY 1",
    ),
];

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let runs: usize = env_or("BENCH_RUNS", 9).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        let mut config = bench_config(dir.path(), scale_factor);
        config.audit.enabled = false;
        eprintln!("seeding TPC-H SF {scale_factor}");
        let uncached = Gateway::start(config.clone(), false).await?;
        config.cache = lakegate_gateway::config::CacheConfig::default();
        let cached = Gateway::start(config, false).await?;
        let mut s = session(uncached.service(), "demo");

        println!(
            "TPC-H SF {scale_factor}, semantic query vs hand-written SQL (no cache), \
             median of {runs} alternated runs:"
        );
        let (mut all_semantic, mut all_hand) = (Duration::ZERO, Duration::ZERO);
        for (name, semantic, by_hand) in CASES {
            let (rows_semantic, _) =
                run_in_process(uncached.service(), &mut s, semantic, true).await;
            let (rows_hand, _) = run_in_process(uncached.service(), &mut s, by_hand, true).await;
            assert_eq!(rows_semantic, rows_hand, "{name}: the same rows");
            let (b, a) = alternated_medians(runs, async |semantic_side| {
                let sql = if semantic_side { semantic } else { by_hand };
                run_in_process(uncached.service(), &mut s, sql, true)
                    .await
                    .1
            })
            .await;
            all_semantic += a;
            all_hand += b;
            println!(
                "  {name:<46} hand-written {:>7.1} ms, semantic {:>7.1} ms, ratio {:.3}",
                b.as_secs_f64() * 1000.0,
                a.as_secs_f64() * 1000.0,
                a.as_secs_f64() / b.as_secs_f64()
            );
        }
        println!(
            "all {}: hand-written {:.1} ms, semantic {:.1} ms, ratio {:.3} (goal <= 1.05)",
            CASES.len(),
            all_hand.as_secs_f64() * 1000.0,
            all_semantic.as_secs_f64() * 1000.0,
            all_semantic.as_secs_f64() / all_hand.as_secs_f64()
        );

        let mut c = session(cached.service(), "demo");
        println!("results cache: a hit against running the same query:");
        for (name, semantic, _) in CASES {
            // Fill the cache, then time hits; a miss is the uncached gateway's run.
            run_in_process(cached.service(), &mut c, semantic, true).await;
            let (miss, hit) = alternated_medians(runs, async |cached_side| match cached_side {
                true => {
                    run_in_process(cached.service(), &mut c, semantic, true)
                        .await
                        .1
                }
                false => {
                    run_in_process(uncached.service(), &mut s, semantic, true)
                        .await
                        .1
                }
            })
            .await;
            println!(
                "  {name:<46} run {:>7.1} ms, cache hit {:>6.2} ms, {:.0}x faster",
                miss.as_secs_f64() * 1000.0,
                hit.as_secs_f64() * 1000.0,
                miss.as_secs_f64() / hit.as_secs_f64()
            );
        }
        cached.shutdown().await;
        uncached.shutdown().await;
        Ok(())
    })
}

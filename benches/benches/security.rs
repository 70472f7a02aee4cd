//! Cost of governance: planning overhead of the security rewrite per query (µs), and
//! TPC-H Q1, Q3 and Q6 run with a row filter (plus its barrier) against the same
//! queries without one, as ratios; then Q3 and Q10 with row filters that look other
//! tables up (customers by an entitlement-style subquery, orders following their
//! customer, line items their order: the demo analyst's shape), beside what planning
//! any row filter on customer costs (a comparison, lists of 5 and 24 values written
//! into the policy, a lookup of 5 values), to tell a lookup's own cost from a filter's.
//! Everything runs in-process through the QueryService; the filters whose queries run
//! keep every row, so the difference is the rewrite's and the lookups' own cost. Last, what the audit trail's fsync costs
//! a statement: records written and acknowledged one at a time, and by 16 sessions at
//! once, with and without the sync (BENCH_AUDIT_RECORDS, default 400).
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --bench security`
//! (BENCH_SF, default 0.1; BENCH_RUNS, default 5). One subquery filter's planning
//! overhead is taken over BENCH_PAIRS pairs (default 31), each side the mean of
//! BENCH_REPS plannings (default 10), and reported as the median and quartiles of the
//! differences within pairs.

use std::sync::Arc;

use lakegate_benches::{
    PairedDifference, alternated_medians, bench_config, env_or, paired_difference, run_in_process,
    session, tpch_query,
};
use lakegate_gateway::server::Gateway;
use lakegate_planner::QueryService;
use lakegate_security::{ScramVerifier, UserConfig};

const POLICY: &str = "g, plain, role:plain\n\
    g, filtered, role:filtered\n\
    g, lookup, role:lookup\n\
    g, entitled, role:entitled\n\
    g, simple, role:simple\n\
    p, role:simple, lake.tpch.*, select, allow\n\
    p2, role:simple, lake.tpch.customer, \"c_custkey >= 0\"\n\
    g, five, role:five\n\
    p, role:five, lake.tpch.*, select, allow\n\
    p2, role:five, lake.tpch.customer, \"c_nationkey IN (SELECT n_nationkey FROM lake.tpch.nation WHERE n_regionkey = 3)\"\n\
    g, literal, role:literal\n\
    p, role:literal, lake.tpch.*, select, allow\n\
    p2, role:literal, lake.tpch.customer, \"c_nationkey IN (6, 7, 19, 22, 23)\"\n\
    g, literal24, role:literal24\n\
    p, role:literal24, lake.tpch.*, select, allow\n\
    p2, role:literal24, lake.tpch.customer, \"c_nationkey IN (0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,24)\"\n\
    p, role:entitled, lake.tpch.*, select, allow\n\
    p2, role:entitled, lake.tpch.customer, \"c_nationkey IN (SELECT n_nationkey FROM lake.tpch.nation WHERE n_name <> ${user.name})\"\n\
    p, role:lookup, lake.tpch.*, select, allow\n\
    p2, role:lookup, lake.tpch.customer, \"c_nationkey IN (SELECT n_nationkey FROM lake.tpch.nation WHERE n_name <> ${user.name})\"\n\
    p2, role:lookup, lake.tpch.orders, \"o_custkey IN (SELECT c_custkey FROM lake.tpch.customer)\"\n\
    p2, role:lookup, lake.tpch.lineitem, \"l_orderkey IN (SELECT o_orderkey FROM lake.tpch.orders)\"\n\
    p, role:plain, lake.tpch.*, select, allow\n\
    p, role:filtered, lake.tpch.*, select, allow\n\
    p2, role:filtered, lake.tpch.lineitem, \"l_shipdate >= DATE '1990-01-01'\"\n\
    p2, role:filtered, lake.tpch.customer, \"c_custkey >= 0\"\n\
    p2, role:filtered, lake.tpch.orders, \"o_orderdate >= DATE '1990-01-01'\"\n";

fn main() -> anyhow::Result<()> {
    // As the gateway's binary runs.
    lakegate_gateway::backtraces::error_backtraces_off();
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let runs: usize = env_or("BENCH_RUNS", 5).max(1);
    // Planning takes milliseconds: the overhead of one subquery filter is taken over
    // many more pairs (BENCH_PAIRS).
    let pairs: usize = env_or("BENCH_PAIRS", 31).max(1);
    // Each side of a pair is the mean of this many plannings (BENCH_REPS).
    let reps: usize = env_or("BENCH_REPS", 10).clamp(1, 1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        let policy = dir.path().join("policy.csv");
        std::fs::write(&policy, POLICY)?;
        let mut config = bench_config(dir.path(), scale_factor);
        config.security.policy = Some(policy.display().to_string());
        config.audit.enabled = false;
        config.users = ["plain", "filtered", "lookup", "entitled", "five", "literal", "literal24", "simple"]
            .iter()
            .map(|name| UserConfig {
                md5: None,
                name: (*name).into(),
                password: ScramVerifier::generate(name).to_string(),
                attributes: Default::default(),
            })
            .collect();
        eprintln!("seeding TPC-H SF {scale_factor}");
        let gateway = Gateway::start(config, false).await?;
        let service: Arc<QueryService> = gateway.service().clone();
        let mut plain = session(&service, "plain");
        let mut filtered = session(&service, "filtered");
        let queries: Vec<(usize, String)> = [1usize, 3, 6].iter().map(|n| (*n, tpch_query(*n))).collect();

        println!("planning as the simple protocol does it (parse, plan, secure, optimize, physical plan), median of {runs}:");
        for (n, sql) in &queries {
            run_in_process(&service, &mut plain, sql, false).await;
            run_in_process(&service, &mut filtered, sql, false).await;
            let (a, b) = alternated_medians(runs, async |with_filters| match with_filters {
                true => run_in_process(&service, &mut filtered, sql, false).await.1,
                false => run_in_process(&service, &mut plain, sql, false).await.1,
            })
            .await;
            println!(
                "  Q{n}: grant only {:>8.0} µs, with row filters {:>8.0} µs, rewrite overhead {:+.0} µs",
                a.as_secs_f64() * 1e6,
                b.as_secs_f64() * 1e6,
                (b.as_secs_f64() - a.as_secs_f64()) * 1e6
            );
        }

        println!("execution with a row filter vs without, median of {runs}:");
        for (n, sql) in &queries {
            let (rows_a, _) = run_in_process(&service, &mut plain, sql, true).await;
            let (rows_b, _) = run_in_process(&service, &mut filtered, sql, true).await;
            assert_eq!(rows_a, rows_b, "the filters keep every row");
            let (a, b) = alternated_medians(runs, async |with_filters| match with_filters {
                true => run_in_process(&service, &mut filtered, sql, true).await.1,
                false => run_in_process(&service, &mut plain, sql, true).await.1,
            })
            .await;
            println!(
                "  Q{n}: without {:>8.1} ms, with {:>8.1} ms, ratio {:.2}",
                a.as_secs_f64() * 1000.0,
                b.as_secs_f64() * 1000.0,
                b.as_secs_f64() / a.as_secs_f64()
            );
        }

        let mut lookup = session(&service, "lookup");
        let mut entitled = session(&service, "entitled");
        let lookups: Vec<(usize, String)> = [3usize, 10].iter().map(|n| (*n, tpch_query(*n))).collect();
        println!("row filters that look tables up (customer → nation, orders → customer, lineitem → orders), median of {runs}:");
        for (n, sql) in &lookups {
            let (rows_a, _) = run_in_process(&service, &mut plain, sql, true).await;
            let (rows_b, _) = run_in_process(&service, &mut lookup, sql, true).await;
            assert_eq!(rows_a, rows_b, "the lookups keep every row");
            let (plan_a, plan_b) = alternated_medians(runs, async |with_lookups| match with_lookups {
                true => run_in_process(&service, &mut lookup, sql, false).await.1,
                false => run_in_process(&service, &mut plain, sql, false).await.1,
            })
            .await;
            let (a, b) = alternated_medians(runs, async |with_lookups| match with_lookups {
                true => run_in_process(&service, &mut lookup, sql, true).await.1,
                false => run_in_process(&service, &mut plain, sql, true).await.1,
            })
            .await;
            // One subquery filter (customers by an entitlement-style lookup): planning
            // alone, in pairs.
            let one = planning_overhead(&service, (pairs, reps), &mut plain, Some(&mut entitled), sql, sql).await;
            let (exec_a, exec_b) = alternated_medians(runs, async |with_lookup| match with_lookup {
                true => run_in_process(&service, &mut entitled, sql, true).await.1,
                false => run_in_process(&service, &mut plain, sql, true).await.1,
            })
            .await;
            // What any row filter on customer costs, and what a lookup adds to a list
            // written into the policy, against the one subquery filter below.
            for (who, filter) in [
                ("simple", "c_custkey >= 0"),
                ("literal", "c_nationkey IN (5 values)"),
                ("literal24", "c_nationkey IN (24 values)"),
                ("five", "a lookup of 5 values (region 3's nations)"),
            ] {
                let mut other = session(&service, who);
                let x = planning_overhead(&service, (pairs, reps), &mut plain, Some(&mut other), sql, sql).await;
                println!("  Q{n}, row filter {filter}: planning {x}");
            }
            // The same one subquery written into the query by hand, without a policy.
            let one_by_hand = sql.replace("customer,", "(SELECT * FROM customer WHERE c_nationkey IN (SELECT n_nationkey FROM nation WHERE n_name <> 'entitled')) customer,");
            let one_hand = planning_overhead(&service, (pairs, reps), &mut plain, None, sql, &one_by_hand).await;
            println!("  Q{n}, the one subquery written into the query by hand: planning {one_hand}");
            println!(
                "  Q{n}, one subquery filter (customer → nation): planning {one}; execution {:>6.1} ms → {:>6.1} ms, ratio {:.2}",
                exec_a.as_secs_f64() * 1e3,
                exec_b.as_secs_f64() * 1e3,
                exec_b.as_secs_f64() / exec_a.as_secs_f64()
            );
            // The same lookups written by hand into the query, run without a policy:
            // what DataFusion's planning of the extra semi-joins costs by itself.
            let by_hand = sql
                .replace("customer,", "(SELECT * FROM customer WHERE c_nationkey IN (SELECT n_nationkey FROM nation WHERE n_name <> 'lookup')) customer,")
                .replace("orders,", "(SELECT * FROM orders WHERE o_custkey IN (SELECT c_custkey FROM customer WHERE c_nationkey IN (SELECT n_nationkey FROM nation WHERE n_name <> 'lookup'))) orders,")
                .replace("lineitem", "(SELECT * FROM lineitem WHERE l_orderkey IN (SELECT o_orderkey FROM orders WHERE o_custkey IN (SELECT c_custkey FROM customer WHERE c_nationkey IN (SELECT n_nationkey FROM nation WHERE n_name <> 'lookup')))) lineitem");
            let (rows_c, _) = run_in_process(&service, &mut plain, &by_hand, true).await;
            assert_eq!(rows_a, rows_c, "the hand-written lookups keep every row: {by_hand}");
            let (hand_plain, hand) = alternated_medians(runs, async |written| match written {
                true => run_in_process(&service, &mut plain, &by_hand, false).await.1,
                false => run_in_process(&service, &mut plain, sql, false).await.1,
            })
            .await;
            println!(
                "  Q{n}: the same subqueries written into the query by hand: planning {:>6.0} µs → {:>6.0} µs ({:+.0} µs)",
                hand_plain.as_secs_f64() * 1e6,
                hand.as_secs_f64() * 1e6,
                (hand.as_secs_f64() - hand_plain.as_secs_f64()) * 1e6
            );
            println!(
                "  Q{n}: planning {:>6.0} µs → {:>6.0} µs (lookup overhead {:+.0} µs); execution without {:>8.1} ms, with {:>8.1} ms, ratio {:.2}",
                plan_a.as_secs_f64() * 1e6,
                plan_b.as_secs_f64() * 1e6,
                (plan_b.as_secs_f64() - plan_a.as_secs_f64()) * 1e6,
                a.as_secs_f64() * 1000.0,
                b.as_secs_f64() * 1000.0,
                b.as_secs_f64() / a.as_secs_f64()
            );
        }
        // How the lookups were planned: lists read, lists kept, semi-joins.
        for line in service.metrics().render().lines() {
            if line.starts_with("lakegate_lookup_") {
                println!("  {line}");
            }
        }
        gateway.shutdown().await;
        audit_fsync(runs).await?;
        Ok(())
    })
}

/// What planning `measured_sql` (as `measured`, or as `baseline` when `None`) adds to
/// planning `sql` as `baseline`: `pairs` pairs (see [`paired_difference`]), each side
/// the mean of `reps` plannings.
async fn planning_overhead(
    service: &QueryService,
    (pairs, reps): (usize, usize),
    baseline: &mut lakegate_planner::Session,
    mut measured: Option<&mut lakegate_planner::Session>,
    sql: &str,
    measured_sql: &str,
) -> PairedDifference {
    paired_difference(pairs, async |with| {
        let mut took = std::time::Duration::ZERO;
        for _ in 0..reps {
            took += match (with, measured.as_deref_mut()) {
                (true, Some(session)) => {
                    run_in_process(service, session, measured_sql, false)
                        .await
                        .1
                }
                (true, None) => {
                    run_in_process(service, baseline, measured_sql, false)
                        .await
                        .1
                }
                (false, _) => run_in_process(service, baseline, sql, false).await.1,
            };
        }
        took / reps as u32
    })
    .await
}

/// The audit trail's cost per record with and without fsync, acknowledged one at a time
/// (a lone session) and 16 at a time (busy sessions share each sync).
async fn audit_fsync(runs: usize) -> anyhow::Result<()> {
    use lakegate_security::audit::{AuditConfig, AuditEvent, AuditLog};
    let records: usize = env_or("BENCH_AUDIT_RECORDS", 400).max(16);
    let dir = tempfile::tempdir()?;
    let open = |fsync: bool| {
        AuditLog::open(AuditConfig {
            path: Some(dir.path().join(format!("audit-{fsync}.jsonl"))),
            max_bytes: 64 << 20,
            hash_sql: false,
            max_sql_bytes: 4096,
            retention_days: 0,
            fsync,
        })
    };
    let logs = [
        std::sync::Arc::new(open(false)?),
        std::sync::Arc::new(open(true)?),
    ];
    let event = AuditEvent {
        user: "analyst".into(),
        sql: Some("SELECT count(*) FROM lake.tpch.orders".into()),
        decision: "allow".into(),
        outcome: "ok".into(),
        tables: vec!["lake.tpch.orders".into()],
        ..AuditEvent::default()
    };
    println!(
        "audit trail per statement, {records} records, median of {runs} (on {}):",
        dir.path().display()
    );
    for concurrency in [1usize, 16] {
        let (without, with) = alternated_medians(runs, async |fsync| {
            let log = logs[usize::from(fsync)].clone();
            let started = std::time::Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..concurrency {
                let (log, event) = (log.clone(), event.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..records / concurrency {
                        log.submit(&event).await.expect("audit write");
                    }
                }));
            }
            for task in tasks {
                task.await.expect("writer task");
            }
            started.elapsed()
        })
        .await;
        let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / records as f64;
        println!(
            "  {concurrency:>2} at a time: without fsync {:>7.1} µs/record, with fsync {:>7.1} µs/record (+{:.1} µs)",
            per(without),
            per(with),
            per(with) - per(without)
        );
    }
    Ok(())
}

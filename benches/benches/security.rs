//! Cost of governance: planning overhead of the security rewrite per query (µs), and
//! TPC-H Q1, Q3 and Q6 run with a row filter (plus its barrier) against the same
//! queries without one, as ratios. Everything runs in-process through the QueryService;
//! the filters keep every row, so the difference is the rewrite's own cost.
//!
//! Run: `cargo bench --profile fast -p lakegate-benches --bench security`
//! (BENCH_SF, default 0.1; BENCH_RUNS, default 5).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lakegate_gateway::config::Config;
use lakegate_gateway::server::Gateway;
use lakegate_planner::{ClientOrigin, Outcome, QueryService, Session};
use lakegate_security::{Principal, ScramVerifier, UserConfig};

const POLICY: &str = "g, plain, role:plain\n\
    g, filtered, role:filtered\n\
    p, role:plain, lake.tpch.*, select, allow\n\
    p, role:filtered, lake.tpch.*, select, allow\n\
    p2, role:filtered, lake.tpch.lineitem, \"l_shipdate >= DATE '1990-01-01'\"\n\
    p2, role:filtered, lake.tpch.customer, \"c_custkey >= 0\"\n\
    p2, role:filtered, lake.tpch.orders, \"o_orderdate >= DATE '1990-01-01'\"\n";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn session(service: &QueryService, user: &str) -> Session {
    service.open_session(
        Principal::new(user),
        ClientOrigin {
            address: "in-process".into(),
            protocol: "bench",
        },
    )
}

/// Plans a query down to a ready (unpolled) stream.
async fn plan_only(service: &QueryService, session: &mut Session, sql: &str) -> Duration {
    let started = Instant::now();
    for statement in service.parse(session, sql).expect("parse") {
        let prepared = service.prepare_to_run(sql, statement);
        let outcome = service
            .execute(session, &prepared, Vec::new())
            .await
            .expect("execute");
        drop(outcome);
    }
    started.elapsed()
}

async fn run(service: &QueryService, session: &mut Session, sql: &str) -> (u64, Duration) {
    let started = Instant::now();
    let mut rows = 0;
    for statement in service.parse(session, sql).expect("parse") {
        let prepared = service.prepare_to_run(sql, statement);
        if let Outcome::Rows { mut stream, .. } = service
            .execute(session, &prepared, Vec::new())
            .await
            .expect("execute")
        {
            while let Some(batch) = stream.next().await {
                rows += batch.expect("batch").num_rows() as u64;
            }
        }
    }
    (rows, started.elapsed())
}

fn main() -> anyhow::Result<()> {
    let scale_factor: f64 = env_or("BENCH_SF", 0.1);
    let runs: usize = env_or("BENCH_RUNS", 5).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir()?;
        let policy = dir.path().join("policy.csv");
        std::fs::write(&policy, POLICY)?;
        let mut config = Config {
            data_dir: dir.path().display().to_string(),
            ..Config::default()
        };
        config.pg.listen = "127.0.0.1:0".into();
        config.admin.enabled = false;
        config.seed.scale_factor = scale_factor;
        config.security.policy = Some(policy.display().to_string());
        config.audit.enabled = false;
        config.users = ["plain", "filtered"]
            .iter()
            .map(|name| UserConfig {
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
        let queries: Vec<(usize, String)> = [1usize, 3, 6]
            .iter()
            .map(|n| {
                let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/tpch/q{n}.sql"));
                (*n, std::fs::read_to_string(path).expect("query"))
            })
            .collect();

        println!("planning as the simple protocol does it (parse, plan, secure, optimize, physical plan), median of {runs}:");
        for (n, sql) in &queries {
            plan_only(&service, &mut plain, sql).await;
            plan_only(&service, &mut filtered, sql).await;
            let mut a = Vec::new();
            let mut b = Vec::new();
            for _ in 0..runs {
                a.push(plan_only(&service, &mut plain, sql).await);
                b.push(plan_only(&service, &mut filtered, sql).await);
            }
            let (a, b) = (median(a), median(b));
            println!(
                "  Q{n}: grant only {:>8.0} µs, with row filters {:>8.0} µs, rewrite overhead {:+.0} µs",
                a.as_secs_f64() * 1e6,
                b.as_secs_f64() * 1e6,
                (b.as_secs_f64() - a.as_secs_f64()) * 1e6
            );
        }

        println!("execution with a row filter vs without, median of {runs}:");
        for (n, sql) in &queries {
            let (rows_a, _) = run(&service, &mut plain, sql).await;
            let (rows_b, _) = run(&service, &mut filtered, sql).await;
            assert_eq!(rows_a, rows_b, "the filters keep every row");
            let mut a = Vec::new();
            let mut b = Vec::new();
            for _ in 0..runs {
                a.push(run(&service, &mut plain, sql).await.1);
                b.push(run(&service, &mut filtered, sql).await.1);
            }
            let (a, b) = (median(a), median(b));
            println!(
                "  Q{n}: without {:>8.1} ms, with {:>8.1} ms, ratio {:.2}",
                a.as_secs_f64() * 1000.0,
                b.as_secs_f64() * 1000.0,
                b.as_secs_f64() / a.as_secs_f64()
            );
        }
        gateway.shutdown().await;
        Ok(())
    })
}

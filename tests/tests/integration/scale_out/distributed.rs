//! A coordinator and two distributed workers on loopback (each worker in a runtime of
//! its own, so that killing it closes its sockets as a dead process would): the 22
//! TPC-H queries at SF 0.1 answer as the gateway alone answers; the analyst's filters
//! and masks hold in plans the workers run; the workers' reads are metered into the
//! query's figures; a coordinator without the shared keys is refused; a dead worker
//! fails the query with a clear error and the gateway serves on; a kill stops the
//! workers' tasks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use datafusion::execution::memory_pool::MemoryPool;
use lakegate_gateway::config::Config;
use lakegate_gateway::worker::{WorkerOptions, start_worker};
use lakegate_tests::{TestGateway, notice_figures, query_text, seed_data_dir_at, test_config};

const SECRET: &str = "the shared secret of this distributed deployment, long enough";

/// TPC-H at SF 0.1 and a secret file, made once for this binary's distributed tests.
fn deployment_dir() -> &'static (PathBuf, PathBuf) {
    static DIR: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let data = seed_data_dir_at("lakegate-distributed-", 0.1);
        let secret = data.join("flight.secret");
        std::fs::write(&secret, format!("{SECRET}\n")).expect("secret");
        (data, secret)
    })
}

fn config_with(secret: &Path) -> Config {
    let (data, _) = deployment_dir();
    let mut config = test_config(data);
    config.seed.scale_factor = 0.1;
    config.flight.secret_file = Some(secret.display().to_string());
    config
}

/// A worker in a runtime of its own.
struct TestWorker {
    url: String,
    /// What the stages running on it hold.
    memory: Arc<dyn MemoryPool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestWorker {
    fn start(config: &Config) -> Self {
        let config = config.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(lakegate_planner::THREAD_STACK_BYTES)
                .enable_all()
                .build()
                .expect("runtime");
            let options = WorkerOptions {
                listen: "127.0.0.1:0".into(),
                ..WorkerOptions::default()
            };
            let started = runtime
                .block_on(start_worker(
                    &config,
                    &options,
                    tokio_util::sync::CancellationToken::new(),
                ))
                .expect("worker starts");
            Self {
                url: started.url.to_string(),
                memory: started.memory,
                runtime: Some(runtime),
            }
        })
        .join()
        .expect("worker thread")
    }

    /// How long its runtime's threads have been busy so far.
    fn busy(&self) -> Duration {
        self.runtime.as_ref().map_or(Duration::ZERO, |runtime| {
            let metrics = runtime.metrics();
            (0..metrics.num_workers())
                .map(|n| metrics.worker_total_busy_duration(n))
                .sum()
        })
    }

    /// Stops everything the worker runs at once, its connections with it.
    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How long the workers' threads were busy, together, during the next `period`.
async fn busy_during(workers: &[TestWorker], period: Duration) -> Duration {
    let before: Duration = workers.iter().map(TestWorker::busy).sum();
    tokio::time::sleep(period).await;
    workers.iter().map(TestWorker::busy).sum::<Duration>() - before
}

/// A coordinator with two workers; queries go to them with `SET gateway.distributed =
/// on` (the threshold is out of reach).
async fn coordinator() -> (TestGateway, Vec<TestWorker>) {
    let (_, secret) = deployment_dir();
    let config = config_with(secret);
    let workers = vec![TestWorker::start(&config), TestWorker::start(&config)];
    let gateway = coordinator_of(&workers, config).await;
    (gateway, workers)
}

async fn coordinator_of(workers: &[TestWorker], mut config: Config) -> TestGateway {
    config.distributed.enabled = true;
    config.distributed.workers = workers.iter().map(|w| w.url.clone()).collect();
    config.distributed.threshold_bytes = u64::MAX;
    config.distributed.files_per_task = 1;
    // Every file is read in two byte ranges, so every scan (not only lineitem's at
    // SF 0.1) spreads over two tasks and every join meets its build side cut in two.
    config.query.engine.insert(
        "datafusion.optimizer.repartition_file_min_size".into(),
        "0".into(),
    );
    TestGateway::start_with(config).await
}

/// `sql`'s rows as `user`, on this gateway alone and on the workers.
async fn both_ways(
    gw: &TestGateway,
    user: &str,
    sql: &str,
) -> (Vec<Vec<Option<String>>>, Vec<Vec<Option<String>>>) {
    let client = gw.connect_as(user, user).await.expect("connects");
    client
        .batch_execute("SET search_path = tpch; SET gateway.distributed = off")
        .await
        .expect("set");
    let here = query_text(&client, sql).await;
    client
        .batch_execute("SET gateway.distributed = on")
        .await
        .expect("set");
    let there = query_text(&client, sql).await;
    (here, there)
}

/// Equal values, or numbers equal to within floating-point summation order.
fn same_value(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) if a != b => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => false,
        },
        _ => a == b,
    }
}

/// The same rows (in the same order where the query orders them fully; rows with
/// equal sort keys may come in either order, so both sides are compared sorted).
fn assert_same_rows(what: &str, here: &[Vec<Option<String>>], there: &[Vec<Option<String>>]) {
    assert_eq!(here.len(), there.len(), "{what}: row counts differ");
    let sorted = |rows: &[Vec<Option<String>>]| {
        let mut rows = rows.to_vec();
        rows.sort();
        rows
    };
    let (here, there) = (sorted(here), sorted(there));
    for (a, b) in here.iter().zip(&there) {
        assert!(
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y)),
            "{what}: {a:?} on the gateway, {b:?} on the workers"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_22_tpch_queries_on_two_workers_answer_as_the_gateway_alone() {
    let (gw, _workers) = coordinator().await;
    let metrics = gw.gateway.service().metrics().clone();
    let mut shipped = Vec::new();
    for n in 1..=22 {
        let before = metrics.distributed_queries();
        let (here, there) = both_ways(&gw, "demo", &lakegate_tests::tpch_query(n)).await;
        assert!(!here.is_empty(), "Q{n} returns rows");
        assert_same_rows(&format!("Q{n}"), &here, &there);
        if metrics.distributed_queries() > before {
            shipped.push(n);
        }
    }
    // Q20's semi join emits rows of its build side, which cannot be broadcast: it
    // travels with both sides hashed on the keys (distributed/build_sides.rs).
    assert_eq!(
        shipped,
        (1..=22).collect::<Vec<_>>(),
        "every TPC-H plan travels whole"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analysts_filters_and_masks_hold_on_the_workers() {
    let (gw, _workers) = coordinator().await;
    let metrics = gw.gateway.service().metrics().clone();
    let before = metrics.distributed_queries();
    for sql in [
        "SELECT count(*) FROM customer",
        "SELECT c_custkey, c_phone FROM customer ORDER BY c_custkey LIMIT 20",
        "SELECT count(*), sum(o_totalprice) FROM orders",
        "SELECT n_name, count(*) FROM customer JOIN nation ON c_nationkey = n_nationkey \
         GROUP BY n_name ORDER BY n_name",
        "SELECT l_returnflag, count(*), sum(l_quantity) FROM lineitem GROUP BY 1 ORDER BY 1",
        "SELECT count(*) FROM customer WHERE c_phone LIKE '%1'",
    ] {
        let (here, there) = both_ways(&gw, "analyst", sql).await;
        assert_same_rows(sql, &here, &there);
    }
    // What the analyst may not see stays hidden on the workers too.
    let (here, there) = both_ways(&gw, "demo", "SELECT count(*) FROM customer").await;
    assert_same_rows("demo's count", &here, &there);
    let (analyst, _) = both_ways(&gw, "analyst", "SELECT count(*) FROM customer").await;
    assert_ne!(
        analyst, there,
        "the analyst sees fewer customers than demo on the workers"
    );
    let client = gw.connect_as("analyst", "analyst").await.expect("connects");
    client
        .batch_execute("SET gateway.distributed = on")
        .await
        .expect("set");
    let denied = client
        .query("SELECT c_acctbal FROM lake.tpch.customer", &[])
        .await
        .expect_err("a denied column");
    assert_eq!(denied.code().map(|c| c.code()), Some("42501"), "{denied:?}");
    assert!(
        metrics.distributed_queries() > before,
        "the analyst's plans ran on the workers"
    );
}

/// The figures of `sql`'s cost notice.
async fn figures(gw: &TestGateway, mode: &str, sql: &str) -> HashMap<String, f64> {
    let (client, mut notices) = gw.connect_with_notices("demo", "demo").await;
    client
        .batch_execute(&format!(
            "SET gateway.show_cost = on; SET gateway.distributed = {mode}"
        ))
        .await
        .expect("set");
    while notices.try_recv().is_ok() {}
    let notice = lakegate_tests::statement_notice(&client, &mut notices, sql).await;
    notice_figures(&notice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_workers_read_is_metered_into_the_query() {
    let (gw, _workers) = coordinator().await;
    let sql = "SELECT l_returnflag, sum(l_quantity), count(*) FROM lake.tpch.lineitem \
               WHERE l_shipdate <= DATE '1998-09-01' GROUP BY 1";
    let local = figures(&gw, "off", sql).await;
    let metrics = gw.gateway.service().metrics().clone();
    let before = metrics.distributed_queries();
    let moved = metrics.distributed_transferred_bytes();
    let distributed = figures(&gw, "on", sql).await;
    assert_eq!(
        metrics.distributed_queries(),
        before + 1,
        "it ran on the workers"
    );
    // The partial aggregates crossed the network: a few rows, some bytes.
    let transferred = metrics.distributed_transferred_bytes() - moved;
    assert!(
        (1..1 << 20).contains(&transferred),
        "bytes moved between the stages: {transferred}"
    );
    // Rows: each row group is read by exactly one task.
    assert_eq!(
        distributed["rows_scanned"], local["rows_scanned"],
        "{local:?} / {distributed:?}"
    );
    // Bytes: tasks that split a file each read its footer; within 5 %.
    let (a, b) = (local["bytes_scanned"], distributed["bytes_scanned"]);
    assert!(
        b >= a && b <= a * 1.05,
        "bytes scanned on the gateway {a}, on the workers {b}"
    );
    assert!(distributed["cpu_ms"] > 0.0, "{distributed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_refuse_a_coordinator_without_the_shared_keys() {
    let (_, secret) = deployment_dir();
    let workers = vec![
        TestWorker::start(&config_with(secret)),
        TestWorker::start(&config_with(secret)),
    ];
    let dir = tempfile::tempdir().expect("dir");
    let other = dir.path().join("other.secret");
    std::fs::write(&other, "another deployment's secret, also long enough\n").expect("secret");
    let gw = coordinator_of(&workers, config_with(&other)).await;
    let client = gw.connect().await;
    client
        .batch_execute("SET gateway.distributed = on")
        .await
        .expect("set");
    let refused = client
        .query(
            "SELECT l_returnflag, count(*) FROM lake.tpch.lineitem GROUP BY 1",
            &[],
        )
        .await
        .expect_err("refused by the worker");
    let db = refused.as_db_error().expect("an error response");
    assert_eq!(db.code().code(), "08006", "{db:?}");
    assert!(
        db.message()
            .contains("not signed with this deployment's keys"),
        "{db:?}"
    );
    // The gateway serves on, here.
    client
        .batch_execute("SET gateway.distributed = off")
        .await
        .expect("set");
    let rows = client
        .query("SELECT count(*) FROM lake.tpch.region", &[])
        .await
        .expect("runs on the gateway");
    assert_eq!(rows[0].get::<_, i64>(0), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_worker_fails_the_query_cleanly() {
    lakegate_tests::panics::count_panics();
    let panics = lakegate_tests::panics::panics();
    let (gw, mut workers) = coordinator().await;
    let client = gw.connect().await;
    client
        .batch_execute("SET gateway.distributed = on")
        .await
        .expect("set");
    let sql = "SELECT l_returnflag, count(*) FROM lake.tpch.lineitem GROUP BY 1 ORDER BY 1";
    let alive = client.query(sql, &[]).await.expect("both workers alive");
    workers[1].kill();
    let failed = client.query(sql, &[]).await.expect_err("a worker is dead");
    let db = failed.as_db_error().expect("an error response");
    assert_eq!(db.code().code(), "08006", "{db:?}");
    assert!(
        db.message().contains("distributed worker") && db.message().contains("Connection refused"),
        "says what failed: {db:?}"
    );
    // The session and the gateway serve on; off the workers, the same answer.
    client
        .batch_execute("SET gateway.distributed = off")
        .await
        .expect("set");
    let here = client.query(sql, &[]).await.expect("on the gateway");
    assert_eq!(here.len(), alive.len());
    assert_eq!(lakegate_tests::panics::panics(), panics, "no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_that_join_the_shared_store_take_queries_over_the_threshold() {
    let (_, secret) = deployment_dir();
    let dir = tempfile::tempdir().expect("dir");
    let mut config = config_with(secret);
    config.finops.shared_store = Some(format!("sqlite:{}", dir.path().join("store.db").display()));
    // The workers join through the store the configuration names.
    let _workers = [TestWorker::start(&config), TestWorker::start(&config)];
    config.distributed.enabled = true;
    config.distributed.files_per_task = 1;
    // No worker listed: those that joined; every query over a byte goes to them.
    config.distributed.threshold_bytes = 1;
    let gw = TestGateway::start_with(config).await;
    let metrics = gw.gateway.service().metrics().clone();
    let client = gw.connect().await;
    let before = metrics.distributed_queries();
    let rows = client
        .query(
            "SELECT l_returnflag, count(*) FROM lake.tpch.lineitem GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .expect("runs");
    assert_eq!(rows.len(), 3);
    assert_eq!(
        metrics.distributed_queries(),
        before + 1,
        "over the threshold, on the joined workers"
    );
    // Below the threshold nothing goes: an estimate of no bytes (a constant).
    client.query("SELECT 1", &[]).await.expect("runs");
    assert_eq!(metrics.distributed_queries(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_stops_a_query_running_on_the_workers() {
    let (gw, workers) = coordinator().await;
    let held = || workers.iter().map(|w| w.memory.reserved()).sum::<usize>();
    let metrics = gw.gateway.service().metrics().clone();
    let before = metrics.distributed_queries();
    let marker = format!("distributed-kill-{}", std::process::id());
    let client = gw.connect().await;
    client
        .batch_execute("SET gateway.distributed = on")
        .await
        .expect("set");
    let sql = format!(
        "SELECT count(*) /* {marker} */ FROM lake.tpch.lineitem a \
         JOIN lake.tpch.lineitem b ON a.l_suppkey = b.l_suppkey"
    );
    let running = tokio::spawn(async move { client.simple_query(&sql).await });
    let demo = gw.connect().await;
    let id = loop {
        let rows = query_text(
            &demo,
            &format!(
                "SELECT query_id FROM system.runtime.queries WHERE state = 'running' \
                 AND query LIKE '%{marker}%' AND query NOT LIKE '%system.runtime%'"
            ),
        )
        .await;
        if let Some(id) = rows.first().and_then(|r| r[0].clone()) {
            break id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        metrics.distributed_queries(),
        before + 1,
        "it runs on the workers"
    );
    // Its join's build sides fill the workers' memory while it runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while held() == 0 {
        assert!(
            Instant::now() < deadline,
            "the join never ran on the workers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... and keep the workers' threads busy.
    let busy_running = busy_during(&workers, Duration::from_secs(1)).await;
    assert!(
        busy_running > Duration::from_millis(400),
        "the workers' threads were busy only {busy_running:?} of 4 s while the join ran"
    );
    demo.simple_query(&format!("CALL system.kill_query('{id}')"))
        .await
        .expect("killed");
    let killed = running
        .await
        .expect("task")
        .expect_err("the query was killed");
    assert_eq!(
        killed.as_db_error().map(|e| e.code().code()),
        Some("57014"),
        "{killed:?}"
    );
    // The kill reached the workers: their tasks stopped at once (the join would run for
    // minutes more). Their threads are idle a second after it. (What finished build
    // sides hold stays reserved until datafusion-distributed drops the idle tasks;
    // datafusion-distributed#551.)
    tokio::time::sleep(Duration::from_secs(1)).await;
    let busy = busy_during(&workers, Duration::from_secs(2)).await;
    assert!(
        busy < Duration::from_millis(400),
        "the workers' threads were busy {busy:?} of the 8 s they had after the kill"
    );
    // The workers serve the next query.
    let (here, there) = both_ways(&gw, "demo", "SELECT count(*) FROM lineitem").await;
    assert_same_rows("after the kill", &here, &there);
}

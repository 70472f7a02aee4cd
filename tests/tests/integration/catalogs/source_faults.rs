//! Source faults: a PostgreSQL source stopped while a query runs on it gives that query
//! a clean error (08006), queries while it is down get 08001 at once, and the first query
//! after it comes back works without restarting the gateway. Object storage (S3 through
//! a fault-injecting proxy) answering 503 is retried, then reported as 58030; storage
//! that stalls ends at the statement timeout. The sessions keep serving throughout.

use std::time::{Duration, Instant};

use iceberg::NamespaceIdent;
use lakegate_catalog::{CatalogConfig, CatalogRegistry, CatalogType};
use lakegate_tests::fault_proxy::{Fault, FaultProxy};
use lakegate_tests::s3_server::S3Server;
use lakegate_tests::{TestGateway, query_text, seeded_data_dir, test_config};

fn sqlstate(error: &tokio_postgres::Error) -> String {
    error
        .code()
        .map_or_else(|| format!("no SQLSTATE: {error}"), |c| c.code().to_string())
}

fn message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), |e| e.message().to_string())
}

#[tokio::test]
async fn a_postgres_source_that_goes_down_fails_its_query_cleanly_and_is_used_again_when_back() {
    let Some(mut server) = lakegate_tests::clients::postgres_server() else {
        return;
    };
    server
        .connect()
        .await
        .batch_execute(
            "CREATE TABLE numbers AS SELECT i AS n FROM generate_series(1, 30000) i;
             ANALYZE numbers;",
        )
        .await
        .expect("source data");
    let mut config = test_config(seeded_data_dir());
    let mut catalogs = config.effective_catalogs();
    catalogs.push(CatalogConfig {
        name: "src".into(),
        kind: CatalogType::Postgres,
        uri: Some(server.conn_str()),
        pushdown: Some(true),
        ..Default::default()
    });
    config.catalogs = catalogs;
    let gw = TestGateway::start_with(config).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    assert_eq!(
        query_text(&admin, "SELECT count(*) FROM src.public.numbers").await,
        vec![vec![Some("30000".to_string())]]
    );

    // A query PostgreSQL computes for many seconds (a pushed-down self join).
    let slow = gw
        .connect_as("admin", "admin")
        .await
        .expect("second session");
    let running = tokio::spawn(async move {
        let started = Instant::now();
        let result = slow
            .simple_query(
                "SELECT count(*) FROM src.public.numbers a JOIN src.public.numbers b \
                 ON a.n % 7 = b.n % 7",
            )
            .await;
        (result.map(|_| ()), started.elapsed(), slow)
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!running.is_finished(), "the slow query finished too soon");
    let stopped = Instant::now();
    server.stop();
    let (result, _, slow) = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the query ends within 10 s of the source stopping")
        .expect("task");
    let error = result.expect_err("the query fails with its source");
    assert_eq!(sqlstate(&error), "08006", "{}", message(&error));
    assert!(
        message(&error).contains("PostgreSQL source src"),
        "{}",
        message(&error)
    );
    eprintln!(
        "query failed {:?} after the source stopped: {}",
        stopped.elapsed(),
        message(&error)
    );

    // The sessions themselves are fine, and lakehouse queries still run.
    assert_eq!(
        query_text(&slow, "SELECT count(*) FROM lake.tpch.nation").await,
        vec![vec![Some("25".to_string())]]
    );
    // While the source is down: refused at once with 08001.
    let started = Instant::now();
    let error = admin
        .simple_query("SELECT count(*) FROM src.public.numbers")
        .await
        .expect_err("the source is down");
    assert_eq!(sqlstate(&error), "08001", "{}", message(&error));
    eprintln!("while down: {}", message(&error));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // Back up: the next query works, without restarting the gateway.
    server.restart();
    let started = Instant::now();
    loop {
        match admin
            .simple_query("SELECT count(*) FROM src.public.numbers")
            .await
        {
            Ok(rows) => {
                assert_eq!(
                    lakegate_tests::text_rows(&rows),
                    vec![vec![Some("30000".to_string())]]
                );
                break;
            }
            Err(e) if started.elapsed() < Duration::from_secs(15) => {
                // Starting up: refused connections (08001) or "starting up" (57P03).
                assert_eq!(sqlstate(&e), "08001", "{}", message(&e));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the source is still unusable 15 s after it restarted: {e}"),
        }
    }
}

/// An Iceberg warehouse on S3 (moto) reached through a [`FaultProxy`]: a table of 20,000
/// orders made while storage is healthy. Returns the proxy, the gateway and the servers
/// and directories that must outlive them.
async fn lake_behind_a_faulty_proxy() -> Option<(
    FaultProxy,
    TestGateway,
    S3Server,
    tempfile::TempDir,
    tokio_postgres::Client,
)> {
    let s3 = S3Server::start_for_test().await?;
    s3.bucket("faulty").await;
    let proxy = FaultProxy::start(&s3.endpoint).await;
    let catalog_db = tempfile::tempdir().expect("dir");
    let mut options = s3.catalog_options();
    options.insert("aws_endpoint".into(), proxy.endpoint.clone());
    let faulty = CatalogConfig {
        name: "faulty".into(),
        kind: CatalogType::IcebergSql,
        warehouse: "s3://faulty/wh".into(),
        uri: Some(format!(
            "sqlite:{}?mode=rwc",
            catalog_db.path().join("faulty.db").display()
        )),
        options,
        ..Default::default()
    };
    let registry = CatalogRegistry::open(std::slice::from_ref(&faulty))
        .await
        .expect("catalog on S3");
    registry
        .get("faulty")
        .expect("faulty")
        .lake
        .iceberg()
        .create_namespace(&NamespaceIdent::new("sales".into()), Default::default())
        .await
        .expect("namespace");
    let gw = TestGateway::start_with(lakegate_tests::config_with_catalog(faulty)).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    admin
        .simple_query(
            "CREATE TABLE faulty.sales.orders AS SELECT o_orderkey, o_totalprice \
             FROM lake.tpch.orders WHERE o_orderkey < 20000",
        )
        .await
        .expect("create table as, on S3");
    Some((proxy, gw, s3, catalog_db, admin))
}

/// A query reading every data file of the table; `salt` makes each run's SQL its own.
fn read_all(salt: u32) -> String {
    format!("SELECT count(*), sum(o_totalprice) > {salt} FROM faulty.sales.orders")
}

#[tokio::test]
async fn object_storage_errors_are_retried_then_reported_and_stalls_end_at_the_statement_timeout() {
    let Some((proxy, _gw, _s3, _dir, admin)) = lake_behind_a_faulty_proxy().await else {
        return;
    };
    let healthy = query_text(&admin, &read_all(0)).await;
    assert_eq!(
        healthy,
        query_text(
            &admin,
            "SELECT count(*), sum(o_totalprice) > 0 FROM lake.tpch.orders WHERE o_orderkey < 20000"
        )
        .await
    );

    // A few 503s (S3's "Slow Down") are retried with backoff: the answer is the same.
    proxy.set(Fault::FailNext(2));
    let before = proxy.failed_requests();
    assert_eq!(query_text(&admin, &read_all(1)).await, healthy);
    assert!(
        proxy.failed_requests() > before,
        "the proxy failed no request: the read did not reach storage"
    );

    // Storage that keeps failing: an error naming it (58030) after the retries, in
    // seconds, and the session still serves.
    proxy.set(Fault::SlowDown);
    let started = Instant::now();
    let error = admin
        .simple_query(&read_all(2))
        .await
        .expect_err("storage fails");
    let took = started.elapsed();
    assert_eq!(sqlstate(&error), "58030", "{}", message(&error));
    eprintln!(
        "failing storage reported after {took:?}: {}",
        message(&error)
    );
    assert!(took < Duration::from_secs(40), "took {took:?}");
    assert_eq!(
        query_text(&admin, "SELECT count(*) FROM lake.tpch.nation").await,
        vec![vec![Some("25".to_string())]]
    );

    // Storage that accepts requests and never answers: the statement timeout ends the
    // statement, and the session still serves.
    proxy.set(Fault::Stall);
    admin
        .simple_query("SET statement_timeout = 2000")
        .await
        .expect("set");
    let started = Instant::now();
    let error = admin
        .simple_query(&read_all(3))
        .await
        .expect_err("storage stalls");
    let took = started.elapsed();
    assert_eq!(sqlstate(&error), "57014", "{}", message(&error));
    assert!(took < Duration::from_secs(6), "took {took:?}");
    admin
        .simple_query("SET statement_timeout = 0")
        .await
        .expect("reset");

    // Healthy again: the next query answers.
    proxy.set(Fault::None);
    assert_eq!(query_text(&admin, &read_all(4)).await, healthy);
}

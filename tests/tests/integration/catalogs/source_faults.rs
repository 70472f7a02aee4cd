//! Source faults: a PostgreSQL source stopped while a query runs on it gives that query
//! a clean error (08006), queries while it is down get 08001 at once, and the first query
//! after it comes back works without restarting the gateway; the gateway's own session
//! keeps serving throughout.

use std::time::{Duration, Instant};

use lakegate_catalog::{CatalogConfig, CatalogType};
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

//! Concurrency limits: with a role limited to N queries at once and a queue of three,
//! N+3 queries sent together all complete, exactly three of them after waiting (their
//! queue time is in the history), and one more is refused while the queue is full.

use lakegate_planner::QueryLimit;
use lakegate_tests::{TestGateway, query_text, seeded_data_dir, test_config};

/// Long enough (about a second) that every query overlaps the others.
const SLOW: &str = "SELECT count(*) FROM generate_series(1, 20000000)";

#[tokio::test]
async fn queries_over_the_limit_wait_in_a_bounded_queue() {
    const N: usize = 2;
    let dir = tempfile::tempdir().expect("history dir");
    let mut config = test_config(seeded_data_dir());
    config.finops.history.dir = Some(dir.path().display().to_string());
    config.finops.limits = vec![QueryLimit {
        subject: "role:analyst".into(),
        max_concurrent: Some(N),
        max_queued: Some(3),
        ..QueryLimit::default()
    }];
    let gw = TestGateway::start_with(config).await;
    let marker = format!("queue-{}", std::process::id());
    let mut clients = Vec::new();
    for _ in 0..N + 4 {
        clients.push(gw.connect_as("analyst", "analyst").await.expect("analyst"));
    }
    let results = futures::future::join_all(clients.iter().enumerate().map(|(i, c)| {
        let sql = format!("{SLOW} /* {marker} {i} */");
        async move { c.simple_query(&sql).await }
    }))
    .await;
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(refused.len(), 1, "one over the queue: {refused:?}");
    let db = refused[0].as_db_error().expect("server error");
    assert_eq!(db.code().code(), "53400");
    assert!(
        db.message()
            .starts_with("too many queries for role:analyst: 2 running and 3 queued"),
        "{}",
        db.message()
    );

    // The N+3 others completed; three waited, and their wait is recorded.
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let rows = query_text(
        &admin,
        &format!(
            "SELECT status, queue_ms > 50 FROM system.history.queries \
             WHERE query LIKE '%{marker}%' AND query NOT LIKE '%system.history%' \
             ORDER BY queue_ms"
        ),
    )
    .await;
    let statuses: Vec<_> = rows
        .iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect();
    assert_eq!(statuses.iter().filter(|s| *s == "finished").count(), N + 3);
    let queued = rows.iter().filter(|r| r[1].as_deref() == Some("t")).count();
    assert_eq!(queued, 3, "{rows:?}");

    // Slots are given back: the role runs again.
    clients[0]
        .simple_query("SELECT 1")
        .await
        .expect("slot free");
}

#[tokio::test]
async fn a_configured_statement_timeout_bounds_every_query_of_the_subject() {
    let mut config = test_config(seeded_data_dir());
    config.finops.limits = vec![QueryLimit {
        subject: "demo".into(),
        // Far below SLOW's time (about 350 ms in the dev build), so a fast run of it
        // still ends by the deadline; planning counts too.
        statement_timeout_ms: Some(50),
        ..QueryLimit::default()
    }];
    let gw = TestGateway::start_with(config).await;
    let demo = gw.connect().await;
    // A longer session setting does not lift it.
    demo.simple_query("SET statement_timeout = '1h'")
        .await
        .expect("set");
    let error = demo.simple_query(SLOW).await.expect_err("timed out");
    assert_eq!(error.code().map(|c| c.code()), Some("57014"));
    // Others are not bound by it.
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    analyst
        .simple_query(SLOW)
        .await
        .expect("no limit for the analyst");
}

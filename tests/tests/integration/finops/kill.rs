//! Running queries: `system.runtime.queries` lists them (queued or running, with their
//! progress) under the policy, and `CALL system.kill_query` stops one, for its owner or
//! an admin only, over Postgres wire and Flight SQL.

use std::time::Duration;

use lakegate_planner::QueryLimit;
use lakegate_tests::{TestGateway, query_text, seeded_data_dir, test_config};

use crate::flight::sql::{run, to_status};

/// A query that runs for many minutes, yielding between batches, until it is killed: a
/// hash join of nation with ten billion generated rows, none matching. A statement
/// timeout makes a broken kill fail the test, not hang it.
fn endless(marker: &str) -> String {
    format!(
        "SELECT count(*) /* {marker} */ FROM lake.tpch.nation n \
         JOIN generate_series(1, 10000000000) g ON g.value = n.n_nationkey + 1000000000000"
    )
}

/// The runtime rows of the queries whose text holds `marker`, as `who` sees them:
/// query_id, state, user_name, queue_ms, progress, estimated_bytes, bytes_scanned,
/// elapsed_ms.
async fn listed(who: &tokio_postgres::Client, marker: &str) -> Vec<Vec<Option<String>>> {
    query_text(
        who,
        &format!(
            "SELECT query_id, state, user_name, queue_ms, progress, estimated_bytes, \
             bytes_scanned, elapsed_ms FROM system.runtime.queries \
             WHERE query LIKE '%{marker}%' AND query NOT LIKE '%system.runtime%' \
             ORDER BY started_at"
        ),
    )
    .await
}

/// Waits until `who` sees `n` queries with `marker`, the first running for over a second.
async fn wait_listed(
    who: &tokio_postgres::Client,
    marker: &str,
    n: usize,
) -> Vec<Vec<Option<String>>> {
    for _ in 0..600 {
        let rows = listed(who, marker).await;
        let settled = rows.len() == n
            && rows[0][1].as_deref() == Some("running")
            && rows[0][7]
                .as_deref()
                .and_then(|ms| ms.parse::<f64>().ok())
                .is_some_and(|ms| ms > 1000.0);
        if settled {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{n} queries with {marker} never showed as running");
}

/// Waits until no query with `marker` is listed any more.
async fn wait_gone(who: &tokio_postgres::Client, marker: &str) {
    for _ in 0..100 {
        if listed(who, marker).await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("queries with {marker} are still listed");
}

fn code(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|e| e.code().code().to_string())
        .unwrap_or_else(|| format!("not a server error: {error}"))
}

fn message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default()
}

/// Starts `sql` as `user` on its own connection; the handle gives the query's result.
async fn start(
    gw: &TestGateway,
    user: &str,
    sql: String,
) -> tokio::task::JoinHandle<Result<Vec<tokio_postgres::SimpleQueryMessage>, tokio_postgres::Error>>
{
    let client = gw.connect_as(user, user).await.expect("connects");
    tokio::spawn(async move {
        client
            .simple_query("SET statement_timeout = 120000")
            .await
            .expect("timeout set");
        client.simple_query(&sql).await
    })
}

#[tokio::test]
async fn owners_see_and_kill_their_running_queries_and_nobody_else_can() {
    let gw = TestGateway::start().await;
    let marker = format!("kill-own-{}", std::process::id());
    let running = start(&gw, "demo", endless(&marker)).await;

    // The owner sees the query running, with an estimate and its progress.
    let demo = gw.connect().await;
    let row = wait_listed(&demo, &marker, 1).await;
    let id = row[0][0].clone().expect("query id");
    assert_eq!(row[0][2].as_deref(), Some("demo"));
    let progress: f64 = row[0][4]
        .as_deref()
        .expect("progress")
        .parse()
        .expect("a number");
    assert!((0.0..1.0).contains(&progress), "{row:?}");
    let estimated: i64 = row[0][5]
        .as_deref()
        .expect("estimate")
        .parse()
        .expect("a number");
    assert!(estimated > 0, "{row:?}");

    // The analyst neither sees it nor can kill it; the auditor sees it but cannot kill.
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    assert!(listed(&analyst, &marker).await.is_empty());
    let call = format!("CALL system.kill_query('{id}')");
    let error = analyst
        .simple_query(&call)
        .await
        .expect_err("not the owner");
    assert_eq!(code(&error), "42704");
    assert_eq!(
        message(&error),
        format!("query {id} is not running, or is not yours to kill")
    );
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    assert_eq!(listed(&auditor, &marker).await.len(), 1);
    let error = auditor
        .simple_query(&call)
        .await
        .expect_err("no admin grant");
    assert_eq!(code(&error), "42704");

    // The owner kills it from another connection: the query fails with 57014.
    demo.simple_query(&call).await.expect("owner kills");
    let error = running.await.expect("task").expect_err("killed");
    assert_eq!(code(&error), "57014");
    assert_eq!(message(&error), format!("query {id} was killed by demo"));
    wait_gone(&demo, &marker).await;

    // The history keeps the killed query, failed, with the reason.
    let history = query_text(
        &demo,
        &format!("SELECT status, error FROM system.history.queries WHERE query_id = '{id}'"),
    )
    .await;
    assert_eq!(
        history,
        [[
            Some("failed".to_string()),
            Some(format!("query {id} was killed by demo"))
        ]]
    );

    // A query that is gone, and bad calls, are clear errors.
    let error = demo.simple_query(&call).await.expect_err("gone");
    assert_eq!(code(&error), "42704");
    for (sql, expected) in [
        ("CALL system.kill_query()", "22023"),
        ("CALL system.kill_query(42)", "42804"),
        ("CALL system.kill_query(query => 'x')", "42601"),
        ("CALL system.kill_query('a', 'b', 'c')", "42601"),
        ("CALL system.drop_everything()", "42883"),
    ] {
        let error = demo.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&error), expected, "{sql}: {error}");
    }
    demo.simple_query("SELECT 1").await.expect("still serving");
}

#[tokio::test]
async fn an_admin_kills_queued_and_running_queries_of_other_users() {
    let mut config = test_config(seeded_data_dir());
    config.finops.limits = vec![QueryLimit {
        subject: "role:analyst".into(),
        max_concurrent: Some(1),
        max_queued: Some(2),
        ..QueryLimit::default()
    }];
    let gw = TestGateway::start_with(config).await;
    let marker = format!("kill-admin-{}", std::process::id());
    let first = start(&gw, "analyst", endless(&marker)).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    wait_listed(&admin, &marker, 1).await;
    let second = start(&gw, "analyst", endless(&marker)).await;
    let rows = wait_listed(&admin, &marker, 2).await;
    assert_eq!(rows[1][1].as_deref(), Some("queued"), "{rows:?}");
    assert_eq!(rows[1][2].as_deref(), Some("analyst"));
    assert_eq!(
        rows[1][4].as_deref(),
        Some("0"),
        "a queued query has made no progress"
    );
    let (running_id, queued_id) = (
        rows[0][0].clone().expect("id"),
        rows[1][0].clone().expect("id"),
    );

    // Trino's form, with a message for the owner.
    admin
        .simple_query(&format!(
            "CALL system.runtime.kill_query(query_id => '{queued_id}', message => 'too expensive')"
        ))
        .await
        .expect("admin kills the queued query");
    let error = second.await.expect("task").expect_err("killed");
    assert_eq!(code(&error), "57014");
    assert_eq!(
        message(&error),
        format!("query {queued_id} was killed by admin: too expensive")
    );
    admin
        .simple_query(&format!("CALL system.kill_query('{running_id}')"))
        .await
        .expect("admin kills the running query");
    let error = first.await.expect("task").expect_err("killed");
    assert_eq!(
        message(&error),
        format!("query {running_id} was killed by admin")
    );
    wait_gone(&admin, &marker).await;

    // The slot and the queue place are given back.
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    analyst.simple_query("SELECT 1").await.expect("slot free");
}

#[tokio::test]
async fn flight_sql_queries_are_listed_and_killed_with_call_as_an_update() {
    let gw = TestGateway::start().await;
    let marker = format!("kill-flight-{}", std::process::id());
    let mut reader = gw.flight().await;
    let sql = endless(&marker);
    let running = tokio::spawn(async move { run(&mut reader, &sql).await });

    let demo = gw.connect().await;
    let row = wait_listed(&demo, &marker, 1).await;
    let id = row[0][0].clone().expect("query id");
    let protocol = query_text(
        &demo,
        &format!("SELECT protocol FROM system.runtime.queries WHERE query_id = '{id}'"),
    )
    .await;
    assert_eq!(protocol, [[Some("flight-sql".to_string())]]);

    // CALL is an update over Flight SQL; as a query it is refused with a pointer.
    let mut killer = gw.flight().await;
    let call = format!("CALL system.kill_query('{id}')");
    let error = run(&mut killer, &call).await.expect_err("not a query");
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(
        error.message().contains("CommandStatementUpdate"),
        "{error}"
    );
    killer
        .execute_update(call.clone(), None)
        .await
        .expect("owner kills over Flight SQL");
    let status = running.await.expect("task").expect_err("killed");
    assert_eq!(status.code(), tonic::Code::Cancelled, "{status}");
    assert!(
        status
            .message()
            .contains(&format!("query {id} was killed by demo")),
        "{status}"
    );
    let error = killer
        .execute_update(call, None)
        .await
        .map_err(to_status)
        .expect_err("gone");
    assert_eq!(error.code(), tonic::Code::NotFound, "{error}");
}

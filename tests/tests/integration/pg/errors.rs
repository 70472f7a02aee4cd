//! Errors reach the client as ErrorResponse with the right SQLSTATE, and the connection
//! stays usable afterwards.

use lakegate_tests::TestGateway;
use tokio_postgres::error::SqlState;

fn code(err: &tokio_postgres::Error) -> String {
    err.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {err}"))
}

#[tokio::test]
async fn syntax_error_then_a_good_query_on_the_same_connection() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let err = client.simple_query("SELEC 1").await.expect_err("syntax");
    assert_eq!(code(&err), SqlState::SYNTAX_ERROR.code());
    let err = client.query("SELECT (1", &[]).await.expect_err("syntax");
    assert_eq!(code(&err), SqlState::SYNTAX_ERROR.code());
    let row = client
        .query_one("SELECT 40 + 2", &[])
        .await
        .expect("usable");
    assert_eq!(row.get::<_, i32>(0), 42);
}

#[tokio::test]
async fn undefined_objects_have_their_codes() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let cases = [
        (
            "SELECT * FROM lake.tpch.no_such_table",
            SqlState::UNDEFINED_TABLE,
        ),
        (
            "SELECT no_such_column FROM lake.tpch.nation",
            SqlState::UNDEFINED_COLUMN,
        ),
        ("SELECT no_such_function(1)", SqlState::UNDEFINED_FUNCTION),
        ("SHOW no_such_setting", SqlState::UNDEFINED_OBJECT),
        ("SELECT 1 / 0", SqlState::DIVISION_BY_ZERO),
    ];
    for (sql, expected) in cases {
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&err), expected.code(), "{sql}: {err}");
        let err = client.query(sql, &[]).await.expect_err(sql);
        assert_eq!(code(&err), expected.code(), "extended {sql}: {err}");
    }
    let err = client
        .simple_query("SELECT * FROM lake.tpch.no_such_table")
        .await
        .expect_err("missing");
    let message = err.as_db_error().map(|e| e.message().to_string());
    assert!(
        message.unwrap_or_default().contains("no_such_table"),
        "{err:?}"
    );
    client.simple_query("SELECT 1").await.expect("usable");
}

#[tokio::test]
async fn writes_need_grants_and_other_dml_is_refused() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    // The demo reader may not create tables (`create` is the admin's).
    let err = client
        .simple_query("CREATE TABLE lake.tpch.t AS SELECT 1 AS a")
        .await
        .expect_err("no create grant");
    assert_eq!(code(&err), SqlState::INSUFFICIENT_PRIVILEGE.code(), "{err}");
    // UPDATE and DELETE are not writes the gateway performs.
    for sql in [
        "UPDATE lake.tpch.region SET r_name = 'X'",
        "DELETE FROM lake.tpch.region",
    ] {
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(
            code(&err),
            SqlState::READ_ONLY_SQL_TRANSACTION.code(),
            "{sql}: {err}"
        );
    }
}

#[tokio::test]
async fn statement_timeout_cancels_with_57014() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    client
        .batch_execute("SET statement_timeout = '50ms'")
        .await
        .expect("set timeout");
    let slow = "SELECT count(*) FROM lake.tpch.lineitem a, lake.tpch.lineitem b \
                WHERE a.l_comment < b.l_comment";
    let err = client.query(slow, &[]).await.expect_err("times out");
    assert_eq!(code(&err), SqlState::QUERY_CANCELED.code(), "{err:?}");
    let err = client.simple_query(slow).await.expect_err("times out");
    assert_eq!(code(&err), SqlState::QUERY_CANCELED.code(), "{err:?}");
    client
        .batch_execute("RESET statement_timeout")
        .await
        .expect("reset");
    let row = client
        .query_one("SELECT count(*) FROM lake.tpch.region", &[])
        .await
        .expect("usable after timeout");
    assert_eq!(row.get::<_, i64>(0), 5);
}

/// Runs a query that takes minutes and sends `cancel` until it ends (bounded): the
/// request may arrive before the statement starts, so it is repeated, as a user pressing
/// Ctrl-C again would. Returns the query's error.
async fn slow_query_cancelled_by(
    client: &std::sync::Arc<tokio_postgres::Client>,
    cancel: impl AsyncFn(),
) -> tokio_postgres::Error {
    let slow = "SELECT count(*) FROM lake.tpch.lineitem a, lake.tpch.lineitem b \
                WHERE a.l_comment < b.l_comment";
    let running = {
        let client = client.clone();
        tokio::spawn(async move { client.simple_query(slow).await })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !running.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "query was not cancelled"
        );
        cancel().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    running.await.expect("task").expect_err("cancelled")
}

#[tokio::test]
async fn cancel_request_stops_the_running_query_with_57014() {
    let gw = TestGateway::start().await;
    let client = std::sync::Arc::new(gw.connect().await);
    let token = client.cancel_token();
    // tokio-postgres' own cancel (returns once the request is written).
    let err = slow_query_cancelled_by(&client, async || {
        token
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("send cancel request");
    })
    .await;
    assert_eq!(code(&err), SqlState::QUERY_CANCELED.code(), "{err:?}");
    // The connection stays usable, and a cancel with no statement running is harmless:
    // once the server has handled it (closed its connection, which libpq waits for),
    // the next statement runs whole, however soon it follows.
    let addr = gw.gateway.pg_addr();
    for _ in 0..20 {
        lakegate_tests::cancel::cancel_and_wait(&token, addr)
            .await
            .expect("idle cancel");
        let row = client
            .query_one("SELECT count(*) FROM lake.tpch.region", &[])
            .await
            .expect("usable after cancel");
        assert_eq!(row.get::<_, i64>(0), 5);
    }
    // A statement cancelled and the next one run at once, libpq-style: the cancel
    // reaches the one it was meant for and never the next.
    for _ in 0..5 {
        let err = slow_query_cancelled_by(&client, async || {
            lakegate_tests::cancel::cancel_and_wait(&token, addr)
                .await
                .expect("cancel");
        })
        .await;
        assert_eq!(code(&err), SqlState::QUERY_CANCELED.code(), "{err:?}");
        let row = client
            .query_one("SELECT count(*) FROM lake.tpch.region", &[])
            .await
            .expect("the statement after a cancel is not cancelled");
        assert_eq!(row.get::<_, i64>(0), 5);
    }
}

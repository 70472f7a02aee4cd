//! Simple and extended protocol queries, parameters, session statements.

use lakegate_tests::{SCALE_FACTOR, TestGateway, text_rows};
use tokio_postgres::SimpleQueryMessage;

#[tokio::test]
async fn simple_protocol_runs_several_statements_in_one_message() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let messages = client
        .simple_query("SELECT count(*) FROM lake.tpch.nation; SELECT r_name FROM region ORDER BY r_regionkey LIMIT 2")
        .await
        .expect("two statements");
    let all = text_rows(&messages);
    assert_eq!(all[0], vec![Some("25".to_string())]);
    assert_eq!(all[1], vec![Some("AFRICA".to_string())]);
    assert_eq!(all[2], vec![Some("AMERICA".to_string())]);
    let completions = messages
        .iter()
        .filter(|m| matches!(m, SimpleQueryMessage::CommandComplete(_)))
        .count();
    assert_eq!(completions, 2);
}

#[tokio::test]
async fn extended_protocol_binds_inferred_parameters() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let statement = client
        .prepare("SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = $1 AND n_regionkey = $2")
        .await
        .expect("prepare");
    assert_eq!(statement.params().len(), 2);
    assert_eq!(statement.params()[0], tokio_postgres::types::Type::INT8);
    let row = client
        .query_one(&statement, &[&7i64, &3i64])
        .await
        .expect("execute");
    assert_eq!(row.get::<_, &str>(0), "GERMANY");
    // The same statement runs again with other values.
    let rows = client
        .query(&statement, &[&7i64, &0i64])
        .await
        .expect("again");
    assert!(rows.is_empty());
}

#[tokio::test]
async fn three_part_names_and_search_path() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let expected = (SCALE_FACTOR * 150_000.0) as i64;
    let qualified = client
        .query_one("SELECT count(*) FROM lake.tpch.customer", &[])
        .await
        .expect("three-part name");
    assert_eq!(qualified.get::<_, i64>(0), expected);
    client
        .batch_execute("SET search_path = 'lake.tpch'")
        .await
        .expect("set search_path");
    let row = client
        .query_one("SHOW search_path", &[])
        .await
        .expect("show");
    assert_eq!(row.get::<_, &str>(0), "lake.tpch");
    let unqualified = client
        .query_one("SELECT count(*) FROM customer", &[])
        .await
        .expect("unqualified");
    assert_eq!(unqualified.get::<_, i64>(0), expected);
}

#[tokio::test]
async fn session_settings_are_per_connection() {
    let gw = TestGateway::start().await;
    let a = gw.connect().await;
    let b = gw.connect().await;
    a.batch_execute("SET application_name = 'first'")
        .await
        .expect("set");
    let shown_a = a
        .query_one("SHOW application_name", &[])
        .await
        .expect("show a");
    let shown_b = b
        .query_one("SHOW application_name", &[])
        .await
        .expect("show b");
    assert_eq!(shown_a.get::<_, &str>(0), "first");
    assert_eq!(shown_b.get::<_, &str>(0), "");
    let version = a
        .query_one("SHOW server_version", &[])
        .await
        .expect("version");
    assert_eq!(
        version.get::<_, &str>(0),
        lakegate_pg_compat::SERVER_VERSION
    );
    a.batch_execute("BEGIN; SELECT 1; COMMIT")
        .await
        .expect("transaction statements");
}

#[tokio::test]
async fn a_failed_transaction_refuses_statements_until_rollback() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    client.batch_execute("BEGIN").await.expect("begin");
    client
        .simple_query("SELECT 1 / 0")
        .await
        .expect_err("fails");
    for attempt in ["SELECT 1", "SHOW search_path"] {
        let err = client.simple_query(attempt).await.expect_err("aborted");
        assert_eq!(err.code().map(|c| c.code()), Some("25P02"), "{attempt}");
    }
    let err = client
        .query("SELECT 1", &[])
        .await
        .expect_err("aborted (extended)");
    assert_eq!(err.code().map(|c| c.code()), Some("25P02"));
    client.batch_execute("ROLLBACK").await.expect("rollback");
    let row = client
        .query_one("SELECT 41 + 1", &[])
        .await
        .expect("usable");
    assert_eq!(row.get::<_, i32>(0), 42);

    // COMMIT of a failed transaction rolls it back, as in PostgreSQL.
    client.batch_execute("BEGIN").await.expect("begin");
    client
        .simple_query("SELECT 1 / 0")
        .await
        .expect_err("fails");
    let messages = client.simple_query("COMMIT").await.expect("commit answers");
    let tag = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::CommandComplete(n) => Some(*n),
        _ => None,
    });
    assert!(tag.is_some());
    client.simple_query("SELECT 1").await.expect("idle again");
}

#[tokio::test]
async fn unaliased_columns_are_named_like_postgres() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let sql = "SELECT count(*), 1 + 1, CAST(2 AS INT), n_name, max(n_nationkey) AS top FROM lake.tpch.nation GROUP BY n_name ORDER BY n_name LIMIT 1";
    let statement = client.prepare(sql).await.expect("describe");
    let described: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        described,
        vec!["count", "?column?", "int4", "n_name", "top"]
    );
    let row = client.query_one(&statement, &[]).await.expect("execute");
    let executed: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
    assert_eq!(executed, described);
    assert_eq!(row.get::<_, i64>("count"), 1);
    // The simple protocol's RowDescription carries the same names.
    let messages = client.simple_query(sql).await.expect("simple");
    let names: Vec<String> = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::RowDescription(columns) => {
                Some(columns.iter().map(|c| c.name().to_string()).collect())
            }
            _ => None,
        })
        .expect("row description");
    assert_eq!(names, vec!["count", "?column?", "int4", "n_name", "top"]);
}

/// `[query.engine]` sets DataFusion options on every session, and one DataFusion does
/// not know stops the gateway at start, named.
#[tokio::test]
async fn engine_options_reach_sessions_and_unknown_ones_stop_the_start() {
    let mut config = lakegate_tests::test_config(lakegate_tests::seeded_data_dir());
    config.query.engine.insert(
        "datafusion.execution.parquet.pushdown_filters".into(),
        "true".into(),
    );
    let gw = TestGateway::start_with(config.clone()).await;
    let client = gw.connect().await;
    let rows = text_rows(
        &client
            .simple_query(
                "SELECT value FROM information_schema.df_settings \
                 WHERE name = 'datafusion.execution.parquet.pushdown_filters'",
            )
            .await
            .expect("settings"),
    );
    assert_eq!(rows, vec![vec![Some("true".to_string())]]);
    // Answers stay the same with filters pushed into the Parquet decoder.
    let filtered = "SELECT count(*), sum(l_quantity) FROM lake.tpch.lineitem \
                    WHERE l_shipdate >= DATE '1995-01-01' AND l_discount > 0.05";
    let pushed = text_rows(&client.simple_query(filtered).await.expect("pushed"));
    let plain = TestGateway::start().await;
    let expected = text_rows(
        &plain
            .connect()
            .await
            .simple_query(filtered)
            .await
            .expect("plain"),
    );
    assert_eq!(pushed, expected);

    config
        .query
        .engine
        .insert("datafusion.execution.no_such_option".into(), "1".into());
    let Err(error) = lakegate_gateway::server::Gateway::start(config, false).await else {
        panic!("an unknown option stops the start");
    };
    assert!(
        error
            .to_string()
            .contains("datafusion.execution.no_such_option"),
        "{error:#}"
    );
}

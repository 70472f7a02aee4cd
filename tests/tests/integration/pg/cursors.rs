//! Cursors (DECLARE / FETCH / CLOSE, WITH HOLD) and transaction blocks with savepoints.

use lakegate_tests::{TestGateway, query_text};

fn keys(rows: &[Vec<Option<String>>]) -> Vec<String> {
    rows.iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect()
}

async fn code_of(client: &tokio_postgres::Client, sql: &str) -> String {
    let error = client.simple_query(sql).await.expect_err(sql);
    error
        .code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {error}"))
}

#[tokio::test]
async fn fetch_reads_a_cursor_in_steps() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    client.batch_execute("BEGIN").await.expect("begin");
    client
        .batch_execute(
            "DECLARE c CURSOR FOR SELECT n_nationkey FROM lake.tpch.nation ORDER BY n_nationkey",
        )
        .await
        .expect("declare");
    assert_eq!(
        keys(&query_text(&client, "FETCH 3 FROM c").await),
        ["0", "1", "2"]
    );
    assert_eq!(keys(&query_text(&client, "FETCH NEXT FROM c").await), ["3"]);
    assert_eq!(
        keys(&query_text(&client, "FETCH FORWARD 2 IN c").await),
        ["4", "5"]
    );
    let rest = query_text(&client, "FETCH ALL FROM c").await;
    assert_eq!(rest.len(), 19);
    assert!(query_text(&client, "FETCH 5 FROM c").await.is_empty());
    // Typed rows through the extended protocol, which describes FETCH by its cursor.
    client
        .batch_execute("DECLARE d CURSOR FOR SELECT n_name, n_regionkey FROM lake.tpch.nation ORDER BY n_nationkey")
        .await
        .expect("declare d");
    let rows = client.query("FETCH 2 FROM d", &[]).await.expect("fetch d");
    let names: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        names,
        [("ALGERIA".to_string(), 0), ("ARGENTINA".to_string(), 1)]
    );
    client
        .batch_execute("CLOSE c; CLOSE d")
        .await
        .expect("close");
    assert_eq!(code_of(&client, "FETCH 1 FROM c").await, "34000");
    client.batch_execute("ROLLBACK").await.expect("rollback");
}

#[tokio::test]
async fn the_command_tag_counts_fetched_rows() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let messages = client
        .simple_query(
            "BEGIN; DECLARE c CURSOR FOR SELECT r_name FROM lake.tpch.region; FETCH 4 FROM c; COMMIT",
        )
        .await
        .expect("batch");
    let tags: Vec<u64> = messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect();
    // BEGIN, DECLARE CURSOR, FETCH 4, COMMIT
    assert_eq!(tags, [0, 0, 4, 0]);
}

#[tokio::test]
async fn with_hold_cursors_outlive_the_transaction() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    client
        .batch_execute(
            "BEGIN; \
             DECLARE held CURSOR WITH HOLD FOR SELECT r_regionkey FROM lake.tpch.region ORDER BY 1; \
             DECLARE gone CURSOR FOR SELECT r_regionkey FROM lake.tpch.region; \
             COMMIT",
        )
        .await
        .expect("declare");
    assert_eq!(
        keys(&query_text(&client, "FETCH 2 FROM held").await),
        ["0", "1"]
    );
    assert_eq!(code_of(&client, "FETCH 1 FROM gone").await, "34000");
    // Holdable cursors may also be declared outside a block; others may not.
    client
        .batch_execute("DECLARE outside CURSOR WITH HOLD FOR SELECT 1")
        .await
        .expect("holdable outside a block");
    assert_eq!(
        code_of(&client, "DECLARE c CURSOR FOR SELECT 1").await,
        "25P01"
    );
    assert_eq!(
        code_of(&client, "DECLARE held CURSOR WITH HOLD FOR SELECT 1").await,
        "42P03"
    );
    client.batch_execute("CLOSE ALL").await.expect("close all");
    assert_eq!(code_of(&client, "FETCH 1 FROM held").await, "34000");
}

#[tokio::test]
async fn cursors_are_governed_and_forward_only() {
    let gw = TestGateway::start().await;
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    analyst
        .batch_execute("BEGIN; DECLARE c CURSOR FOR SELECT r_name FROM lake.tpch.region")
        .await
        .expect("declare");
    assert_eq!(
        keys(&query_text(&analyst, "FETCH ALL FROM c").await),
        ["EUROPE"]
    );
    assert_eq!(code_of(&analyst, "FETCH BACKWARD 1 FROM c").await, "55000");
    analyst.batch_execute("ROLLBACK").await.expect("rollback");
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    auditor.batch_execute("BEGIN").await.expect("begin");
    assert_eq!(
        code_of(
            &auditor,
            "DECLARE c CURSOR FOR SELECT * FROM lake.tpch.orders"
        )
        .await,
        "42501"
    );
    assert_eq!(
        code_of(&auditor, "DECLARE s SCROLL CURSOR FOR SELECT 1").await,
        "25P02",
        "the failed block refuses further statements"
    );
}

#[tokio::test]
async fn savepoints_recover_a_failed_block() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    client
        .batch_execute("BEGIN; SAVEPOINT a")
        .await
        .expect("savepoint");
    assert_eq!(
        code_of(&client, "SELECT * FROM lake.tpch.nope").await,
        "42P01"
    );
    assert_eq!(code_of(&client, "SELECT 1").await, "25P02");
    client
        .batch_execute("ROLLBACK TO SAVEPOINT a")
        .await
        .expect("rollback to");
    assert_eq!(
        query_text(&client, "SELECT 1").await,
        vec![vec![Some("1".into())]]
    );
    client.batch_execute("RELEASE a").await.expect("release");
    assert_eq!(code_of(&client, "ROLLBACK TO a").await, "3B001");
    // The unknown savepoint failed the block; ROLLBACK ends it.
    client.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(code_of(&client, "SAVEPOINT outside").await, "25P01");
    // Through the extended protocol too (pgjdbc sends savepoints this way).
    client.execute("BEGIN", &[]).await.expect("begin");
    client
        .execute("SAVEPOINT b", &[])
        .await
        .expect("savepoint b");
    client
        .query("SELECT 1/0", &[])
        .await
        .expect_err("division by zero");
    client
        .execute("ROLLBACK TO SAVEPOINT b", &[])
        .await
        .expect("rollback to b");
    let row = client
        .query_one("SELECT 2", &[])
        .await
        .expect("usable again");
    assert_eq!(row.get::<_, i32>(0), 2);
    client.execute("COMMIT", &[]).await.expect("commit");
}

#[tokio::test]
async fn cursors_declared_after_a_savepoint_close_when_it_is_rolled_back() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    client
        .batch_execute(
            "BEGIN; DECLARE before CURSOR FOR SELECT 1; SAVEPOINT s; \
             DECLARE after CURSOR FOR SELECT 2; ROLLBACK TO s",
        )
        .await
        .expect("block");
    assert_eq!(
        keys(&query_text(&client, "FETCH 1 FROM before").await),
        ["1"]
    );
    assert_eq!(code_of(&client, "FETCH 1 FROM after").await, "34000");
}

#[tokio::test]
async fn session_characteristics_set_the_isolation_level() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    client
        .batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        .await
        .expect("characteristics");
    assert_eq!(
        query_text(&client, "SHOW default_transaction_isolation").await,
        vec![vec![Some("serializable".into())]]
    );
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .expect("begin");
    assert_eq!(
        query_text(&client, "SHOW transaction_isolation").await,
        vec![vec![Some("repeatable read".into())]]
    );
    client.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(
        query_text(&client, "SHOW TRANSACTION ISOLATION LEVEL").await,
        vec![vec![Some("serializable".into())]]
    );
    // Writes commit per statement, so READ WRITE is accepted as READ ONLY is.
    client
        .simple_query("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        .await
        .expect("read write");
}

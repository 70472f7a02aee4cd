//! Iceberg as it is used: INSERT and CREATE TABLE AS commit one snapshot each, time
//! travel reads earlier snapshots, metadata tables list snapshots and files, writes are
//! governed, concurrent commits succeed or fail cleanly. Real gateway, real clients,
//! over a lakehouse of its own (these tests write).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use lakegate_tests::{TestGateway, query_text, seed_new_data_dir, test_config};
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::error::SqlState;

/// A seeded data directory only these tests write to.
fn writable_data_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| seed_new_data_dir("lakegate-writes-"))
}

async fn start() -> TestGateway {
    TestGateway::start_with(test_config(writable_data_dir())).await
}

async fn admin(gw: &TestGateway) -> tokio_postgres::Client {
    gw.connect_as("admin", "admin")
        .await
        .expect("admin connects")
}

/// The rows a command reports in its tag (`INSERT 0 n`, `SELECT n`).
async fn command_rows(client: &tokio_postgres::Client, sql: &str) -> u64 {
    let messages = client.simple_query(sql).await.expect(sql);
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .expect("command complete")
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

fn code(err: &tokio_postgres::Error) -> String {
    err.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {err}"))
}

#[tokio::test]
async fn insert_and_create_table_as_commit_one_snapshot_each() {
    let gw = start().await;
    let client = admin(&gw).await;
    let created = command_rows(
        &client,
        "CREATE TABLE lake.tpch.w_nations AS \
         SELECT n_nationkey, n_name, n_regionkey FROM lake.tpch.nation WHERE n_regionkey = 1",
    )
    .await;
    assert_eq!(created, 5);
    let inserted = command_rows(
        &client,
        "INSERT INTO lake.tpch.w_nations VALUES (100, 'ATLANTIS', 9), (101, 'MU', 9)",
    )
    .await;
    assert_eq!(inserted, 2);
    // Extended protocol, bound parameters.
    let one = client
        .execute(
            "INSERT INTO lake.tpch.w_nations VALUES ($1, $2, $3)",
            &[&102i64, &"LEMURIA", &9i64],
        )
        .await
        .expect("insert with parameters");
    assert_eq!(one, 1);
    // INSERT … SELECT from the table itself, and an INSERT of no rows (no snapshot).
    let doubled = command_rows(
        &client,
        "INSERT INTO lake.tpch.w_nations SELECT n_nationkey + 1000, n_name, n_regionkey \
         FROM lake.tpch.w_nations WHERE n_regionkey = 9",
    )
    .await;
    assert_eq!(doubled, 3);
    let none = command_rows(
        &client,
        "INSERT INTO lake.tpch.w_nations SELECT * FROM lake.tpch.w_nations WHERE false",
    )
    .await;
    assert_eq!(none, 0);
    assert_eq!(
        count(&client, "SELECT count(*) FROM lake.tpch.w_nations").await,
        11
    );
    let snapshots = query_text(
        &client,
        "SELECT operation, summary FROM lake.tpch.\"w_nations$snapshots\" ORDER BY committed_at",
    )
    .await;
    assert_eq!(snapshots.len(), 4, "{snapshots:?}");
    assert!(snapshots.iter().all(|r| r[0].as_deref() == Some("append")));
    let last = snapshots[3][1].clone().expect("summary");
    assert!(last.contains("\"total-records\":\"11\""), "{last}");

    // CREATE TABLE with columns, then rows of every common type.
    let messages = client
        .simple_query(
            "CREATE TABLE lake.tpch.w_types (id bigint NOT NULL, name text, price decimal(10,2), \
             day date, at timestamp, ok boolean, ratio double precision)",
        )
        .await
        .expect("create table");
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, SimpleQueryMessage::CommandComplete(0)))
    );
    command_rows(
        &client,
        "INSERT INTO lake.tpch.w_types VALUES \
         (1, 'a', 1.25, DATE '2026-01-02', TIMESTAMP '2026-01-02 03:04:05', true, 0.5), \
         (2, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .await;
    assert_eq!(
        query_text(
            &client,
            "SELECT id, name, price, day, ok FROM lake.tpch.w_types ORDER BY id"
        )
        .await,
        vec![
            vec![
                Some("1".into()),
                Some("a".into()),
                Some("1.25".into()),
                Some("2026-01-02".into()),
                Some("t".into())
            ],
            vec![Some("2".into()), None, None, None, None],
        ]
    );
    // The new tables are listed like the others.
    let listed = query_text(
        &client,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = 'tpch' AND table_name LIKE 'w\\_%' ORDER BY 1",
    )
    .await;
    assert!(
        listed.contains(&vec![Some("w_nations".into())]),
        "{listed:?}"
    );
}

#[tokio::test]
async fn time_travel_reads_the_earlier_snapshot_after_an_insert() {
    let gw = start().await;
    let client = admin(&gw).await;
    command_rows(
        &client,
        "CREATE TABLE lake.tpch.w_travel AS SELECT r_regionkey, r_name FROM lake.tpch.region",
    )
    .await;
    let first: i64 = client
        .query_one(
            "SELECT snapshot_id FROM lake.tpch.\"w_travel$snapshots\"",
            &[],
        )
        .await
        .expect("first snapshot")
        .get(0);
    let first_at: String = client
        .query_one(
            "SELECT CAST(committed_at AS VARCHAR) FROM lake.tpch.\"w_travel$snapshots\"",
            &[],
        )
        .await
        .expect("first time")
        .get(0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    command_rows(
        &client,
        "INSERT INTO lake.tpch.w_travel VALUES (7, 'ATLANTIS')",
    )
    .await;

    assert_eq!(
        count(&client, "SELECT count(*) FROM lake.tpch.w_travel").await,
        6
    );
    assert_eq!(
        count(
            &client,
            &format!("SELECT count(*) FROM lake.tpch.w_travel FOR VERSION AS OF {first}")
        )
        .await,
        5
    );
    assert_eq!(
        count(
            &client,
            &format!(
                "SELECT count(*) FROM lake.tpch.w_travel FOR TIMESTAMP AS OF TIMESTAMP '{first_at}'"
            )
        )
        .await,
        5
    );
    // Both snapshots in one statement, with aliases and a join.
    let rows = query_text(
        &client,
        &format!(
            "SELECT now_.r_name FROM lake.tpch.w_travel now_ \
             LEFT JOIN lake.tpch.w_travel FOR VERSION AS OF {first} AS before_ \
             ON now_.r_regionkey = before_.r_regionkey WHERE before_.r_regionkey IS NULL"
        ),
    )
    .await;
    assert_eq!(rows, vec![vec![Some("ATLANTIS".into())]]);
    // The history lists both snapshots, both ancestors of the current one.
    let history = query_text(
        &client,
        "SELECT snapshot_id, is_current_ancestor FROM lake.tpch.\"w_travel$history\" \
         ORDER BY made_current_at",
    )
    .await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0][0], Some(first.to_string()));
    assert!(history.iter().all(|r| r[1].as_deref() == Some("t")));

    // Bad versions name the problem.
    for (sql, state) in [
        (
            "SELECT * FROM lake.tpch.w_travel FOR VERSION AS OF 12345".to_string(),
            SqlState::INVALID_PARAMETER_VALUE,
        ),
        (
            "SELECT * FROM lake.tpch.w_travel FOR TIMESTAMP AS OF TIMESTAMP '2000-01-01 00:00:00'"
                .to_string(),
            SqlState::INVALID_PARAMETER_VALUE,
        ),
        (
            "SELECT 1 FOR VERSION AS OF 3".to_string(),
            SqlState::SYNTAX_ERROR,
        ),
        (
            format!("INSERT INTO lake.tpch.w_travel FOR VERSION AS OF {first} VALUES (1, 'x')"),
            SqlState::SYNTAX_ERROR,
        ),
    ] {
        let err = client.simple_query(&sql).await.expect_err(&sql);
        assert_eq!(code(&err), state.code(), "{sql}: {err}");
    }
}

#[tokio::test]
async fn metadata_tables_describe_files_manifests_and_partitions() {
    let gw = start().await;
    let client = admin(&gw).await;
    command_rows(
        &client,
        "CREATE TABLE lake.tpch.w_meta AS SELECT * FROM lake.tpch.orders",
    )
    .await;
    command_rows(
        &client,
        "INSERT INTO lake.tpch.w_meta SELECT * FROM lake.tpch.orders WHERE o_orderkey < 100",
    )
    .await;
    let total = count(&client, "SELECT count(*) FROM lake.tpch.w_meta").await;
    let files = query_text(
        &client,
        "SELECT count(*), sum(record_count), min(file_format), min(content) \
         FROM lake.tpch.\"w_meta$files\"",
    )
    .await;
    assert_eq!(files[0][0], Some("2".into()), "{files:?}");
    assert_eq!(files[0][1], Some(total.to_string()));
    assert_eq!(files[0][2], Some("parquet".into()));
    assert_eq!(files[0][3], Some("data".into()));
    let bounds = query_text(
        &client,
        "SELECT lower_bounds FROM lake.tpch.\"w_meta$files\" ORDER BY record_count LIMIT 1",
    )
    .await;
    assert!(
        bounds[0][0]
            .as_deref()
            .is_some_and(|b| b.contains("\"o_orderkey\":\"1\"")),
        "{bounds:?}"
    );
    let manifests = query_text(
        &client,
        "SELECT count(*), sum(added_data_files_count) FROM lake.tpch.\"w_meta$manifests\"",
    )
    .await;
    assert_eq!(manifests, vec![vec![Some("2".into()), Some("2".into())]]);
    let partitions = query_text(
        &client,
        "SELECT partition, record_count, file_count FROM lake.tpch.\"w_meta$partitions\"",
    )
    .await;
    assert_eq!(
        partitions,
        vec![vec![
            Some("{}".into()),
            Some(total.to_string()),
            Some("2".into())
        ]]
    );
    let err = client
        .simple_query("SELECT * FROM lake.tpch.\"w_meta$nope\"")
        .await
        .expect_err("unknown metadata table");
    let message = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("$snapshots"), "{message}");
}

#[tokio::test]
async fn writes_and_metadata_are_governed() {
    let gw = start().await;
    let demo = gw.connect().await;
    for sql in [
        "INSERT INTO lake.tpch.region VALUES (9, 'X', 'y')",
        "CREATE TABLE lake.tpch.w_denied AS SELECT 1 AS a",
    ] {
        let err = demo.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&err), SqlState::INSUFFICIENT_PRIVILEGE.code(), "{sql}");
    }
    // A reader of the whole table sees its files.
    assert!(count(&demo, "SELECT count(*) FROM lake.tpch.\"region$files\"").await >= 1);
    let analyst = gw
        .connect_as("analyst", "analyst")
        .await
        .expect("analyst connects");
    // Row-filtered: file statistics would show the hidden regions.
    let err = analyst
        .simple_query("SELECT * FROM lake.tpch.\"nation$files\"")
        .await
        .expect_err("filtered table's files");
    assert_eq!(code(&err), SqlState::INSUFFICIENT_PRIVILEGE.code(), "{err}");
    // Time travel keeps the row filter: the analyst's five nations, at any snapshot.
    let snapshot: i64 = admin(&gw)
        .await
        .query_one(
            "SELECT snapshot_id FROM lake.tpch.\"nation$snapshots\"",
            &[],
        )
        .await
        .expect("nation snapshot")
        .get(0);
    assert_eq!(
        count(
            &analyst,
            &format!("SELECT count(*) FROM lake.tpch.nation FOR VERSION AS OF {snapshot}")
        )
        .await,
        5
    );
    // A failed CREATE TABLE AS leaves no table behind.
    let client = admin(&gw).await;
    let err = client
        .simple_query(
            "CREATE TABLE lake.tpch.w_failed AS SELECT 1 / (n_nationkey - n_nationkey) AS x \
             FROM lake.tpch.nation",
        )
        .await
        .expect_err("division by zero");
    assert_eq!(code(&err), SqlState::DIVISION_BY_ZERO.code(), "{err}");
    let err = client
        .simple_query("SELECT * FROM lake.tpch.w_failed")
        .await
        .expect_err("dropped");
    assert_eq!(code(&err), SqlState::UNDEFINED_TABLE.code(), "{err}");
    // Other write errors.
    command_rows(
        &client,
        "CREATE TABLE lake.tpch.w_errors (id int NOT NULL, v text)",
    )
    .await;
    for (sql, state) in [
        (
            "INSERT INTO lake.tpch.w_errors VALUES (NULL, 'x')",
            SqlState::NOT_NULL_VIOLATION,
        ),
        (
            "CREATE TABLE lake.tpch.w_errors (id int)",
            SqlState::DUPLICATE_TABLE,
        ),
        (
            "CREATE TABLE system.history.mine AS SELECT 1 AS a",
            SqlState::FEATURE_NOT_SUPPORTED,
        ),
    ] {
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&err), state.code(), "{sql}: {err}");
    }
    client
        .simple_query("CREATE TABLE IF NOT EXISTS lake.tpch.w_errors (id int)")
        .await
        .expect("IF NOT EXISTS skips");
    assert_eq!(
        count(&client, "SELECT count(*) FROM lake.tpch.w_errors").await,
        0
    );
}

#[tokio::test]
async fn concurrent_inserts_commit_or_fail_cleanly() {
    let gw = start().await;
    let client = admin(&gw).await;
    command_rows(
        &client,
        "CREATE TABLE lake.tpch.w_race (writer int, n bigint)",
    )
    .await;
    let writers = 6;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let client = admin(&gw).await;
        tasks.push(tokio::spawn(async move {
            client
                .simple_query(&format!(
                    "INSERT INTO lake.tpch.w_race SELECT {writer}, o_orderkey \
                     FROM lake.tpch.orders WHERE o_orderkey < 1000"
                ))
                .await
        }));
    }
    let per_writer = count(
        &client,
        "SELECT count(*) FROM lake.tpch.orders WHERE o_orderkey < 1000",
    )
    .await;
    let mut committed = 0i64;
    for task in tasks {
        match task.await.expect("writer task") {
            Ok(_) => committed += 1,
            // The only acceptable failure: another writer won (retry the statement).
            Err(e) => assert_eq!(code(&e), SqlState::T_R_SERIALIZATION_FAILURE.code(), "{e}"),
        }
    }
    assert!(committed >= 1);
    // Every committed statement's rows, each exactly once; one snapshot per commit.
    assert_eq!(
        count(&client, "SELECT count(*) FROM lake.tpch.w_race").await,
        committed * per_writer
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(DISTINCT writer) FROM lake.tpch.w_race"
        )
        .await,
        committed
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM lake.tpch.\"w_race$snapshots\""
        )
        .await,
        committed
    );
}

#[tokio::test]
async fn flight_sql_updates_insert_and_report_rows() {
    let gw = start().await;
    let client = admin(&gw).await;
    command_rows(
        &client,
        "CREATE TABLE lake.tpch.w_flight (id int, name text)",
    )
    .await;
    let mut flight = gw
        .flight_as("admin", "admin")
        .await
        .expect("admin over flight");
    let rows = flight
        .execute_update(
            "INSERT INTO lake.tpch.w_flight VALUES (1, 'one'), (2, 'two')".into(),
            None,
        )
        .await
        .expect("insert over flight");
    assert_eq!(rows, 2);
    let rows = flight
        .execute_update(
            "CREATE TABLE lake.tpch.w_flight_copy AS SELECT * FROM lake.tpch.w_flight".into(),
            None,
        )
        .await
        .expect("create table as over flight");
    assert_eq!(rows, 2);
    assert_eq!(
        count(&client, "SELECT count(*) FROM lake.tpch.w_flight_copy").await,
        2
    );
    // A write sent as a query is pointed to the update path, and writes nothing.
    let error = flight
        .execute(
            "INSERT INTO lake.tpch.w_flight VALUES (3, 'three')".into(),
            None,
        )
        .await
        .expect_err("an update sent as a query");
    assert!(error.to_string().contains("as an update"), "{error}");
    assert_eq!(
        count(&client, "SELECT count(*) FROM lake.tpch.w_flight").await,
        2
    );
}

/// The prepared-plan counters in `/metrics`: (reuses, plans kept).
async fn prepared_plan_counters(gw: &TestGateway) -> (f64, f64) {
    let (_, metrics) = gw.admin_get("/metrics").await;
    (
        lakegate_tests::metric_value(&metrics, "lakegate_prepared_plan_reuses_total"),
        lakegate_tests::metric_value(&metrics, "lakegate_prepared_plans_kept_total"),
    )
}

#[tokio::test]
async fn prepared_statements_keep_their_secured_plan_until_a_new_snapshot() {
    let gw = start().await;
    let client = admin(&gw).await;
    let created = command_rows(
        &client,
        "CREATE TABLE lake.tpch.w_prepared AS \
         SELECT n_nationkey, n_name, n_regionkey FROM lake.tpch.nation",
    )
    .await;
    assert_eq!(created, 25);
    // Planned every time, not answered from the results cache.
    client
        .batch_execute("SET gateway.cache = off")
        .await
        .expect("cache off");
    let names = "SELECT n_name FROM lake.tpch.w_prepared WHERE n_regionkey = $1 ORDER BY n_name";
    let statement = client.prepare(names).await.expect("prepare");
    let (reuses, kept) = prepared_plan_counters(&gw).await;
    for region in 0..5i64 {
        let rows: Vec<String> = client
            .query(&statement, &[&region])
            .await
            .expect("execute")
            .iter()
            .map(|row| row.get(0))
            .collect();
        let expected: Vec<String> = query_text(&client, &names.replace("$1", &region.to_string()))
            .await
            .into_iter()
            .map(|row| row[0].clone().expect("a name"))
            .collect();
        assert_eq!(rows, expected, "region {region}");
        assert_eq!(rows.len(), 5);
    }
    // The first execution planned as usual; the second kept its plan; three reused it.
    assert_eq!(
        prepared_plan_counters(&gw).await,
        (reuses + 4.0, kept + 1.0)
    );

    // A new snapshot: the statement is planned again and reads it.
    command_rows(
        &client,
        "INSERT INTO lake.tpch.w_prepared VALUES (200, 'ATLANTIS', 1)",
    )
    .await;
    let rows: Vec<String> = client
        .query(&statement, &[&1i64])
        .await
        .expect("after the insert")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(rows.len(), 6);
    assert!(rows.contains(&"ATLANTIS".to_string()), "{rows:?}");
    assert_eq!(
        prepared_plan_counters(&gw).await,
        (reuses + 5.0, kept + 2.0)
    );

    // A kept plan is the secured one: the analyst's row filter (five nations) holds
    // on every execution.
    let analyst = gw
        .connect_as("analyst", "analyst")
        .await
        .expect("analyst connects");
    analyst
        .batch_execute("SET gateway.cache = off")
        .await
        .expect("cache off");
    let counted = analyst
        .prepare("SELECT count(*) FROM lake.tpch.nation WHERE n_nationkey >= $1")
        .await
        .expect("prepare");
    for _ in 0..4 {
        let n: i64 = analyst
            .query_one(&counted, &[&0i64])
            .await
            .expect("count")
            .get(0);
        assert_eq!(n, 5);
    }
    let (reused_after, _) = prepared_plan_counters(&gw).await;
    assert_eq!(reused_after, reuses + 8.0);
}

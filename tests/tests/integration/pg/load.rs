//! Many connections at once, and pipelined statements on one connection.

use futures::future::join_all;
use lakegate_tests::TestGateway;

const NATIONS: [&str; 25] = [
    "ALGERIA",
    "ARGENTINA",
    "BRAZIL",
    "CANADA",
    "EGYPT",
    "ETHIOPIA",
    "FRANCE",
    "GERMANY",
    "INDIA",
    "INDONESIA",
    "IRAN",
    "IRAQ",
    "JAPAN",
    "JORDAN",
    "KENYA",
    "MOROCCO",
    "MOZAMBIQUE",
    "PERU",
    "CHINA",
    "ROMANIA",
    "SAUDI ARABIA",
    "VIETNAM",
    "RUSSIA",
    "UNITED KINGDOM",
    "UNITED STATES",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_connections_run_twenty_queries_each_without_errors() {
    let gw = TestGateway::start().await;
    let connections = (0..50).map(|c| {
        let conn_str = gw.conn_str("demo", "demo");
        async move {
            let (client, connection) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("connection {c}: {e}"))?;
            tokio::spawn(connection);
            let statement = client
                .prepare("SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = $1")
                .await
                .map_err(|e| format!("connection {c}: prepare: {e}"))?;
            for q in 0..20i64 {
                let key = (c * 20 + q) % 25;
                if q % 2 == 0 {
                    let row = client
                        .query_one(&statement, &[&key])
                        .await
                        .map_err(|e| format!("connection {c} query {q}: {e}"))?;
                    let name: String = row.get(0);
                    if name != NATIONS[key as usize] {
                        return Err(format!("connection {c} query {q}: got {name} for {key}"));
                    }
                } else {
                    let rows = client
                        .simple_query(&format!(
                            "SELECT count(*) FROM lake.tpch.nation WHERE n_regionkey = {}",
                            key % 5
                        ))
                        .await
                        .map_err(|e| format!("connection {c} query {q}: {e}"))?;
                    let count = rows.iter().find_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                        _ => None,
                    });
                    if count.as_deref() != Some("5") {
                        return Err(format!("connection {c} query {q}: count {count:?}"));
                    }
                }
            }
            Ok::<_, String>(20)
        }
    });
    let results = join_all(connections).await;
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(errors.is_empty(), "{} errors: {errors:?}", errors.len());
    let answered: usize = results.iter().filter_map(|r| r.as_ref().ok()).sum();
    assert_eq!(answered, 1000);
}

#[tokio::test]
async fn pipelined_statements_are_answered_in_order() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let statement = client
        .prepare("SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = $1")
        .await
        .expect("prepare");
    // tokio-postgres writes every request before reading any answer when the futures
    // are polled together: Bind/Execute/Sync sequences arrive back to back.
    let keys: Vec<i64> = (0..25).rev().collect();
    let params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 1]> =
        keys.iter().map(|k| [k as _]).collect();
    let queries = params.iter().map(|p| client.query_one(&statement, p));
    let rows = join_all(queries).await;
    for (key, row) in keys.iter().zip(rows) {
        let name: String = row.expect("row").get(0);
        assert_eq!(name, NATIONS[*key as usize]);
    }
    // An error in the middle of a pipeline fails only its own statement.
    let (a, b, c) = tokio::join!(
        client.query_one(&statement, &[&1i64]),
        client.query("SELECT * FROM lake.tpch.nope", &[]),
        client.query_one(&statement, &[&2i64])
    );
    assert_eq!(a.expect("before").get::<_, String>(0), "ARGENTINA");
    let error = b.expect_err("undefined table");
    assert_eq!(error.code().map(|c| c.code()), Some("42P01"), "{error}");
    assert_eq!(c.expect("after").get::<_, String>(0), "BRAZIL");
}

#[tokio::test]
async fn execute_with_a_row_limit_suspends_and_resumes_the_portal() {
    let gw = TestGateway::start().await;
    let mut client = gw.connect().await;
    let transaction = client.transaction().await.expect("begin");
    let statement = transaction
        .prepare("SELECT n_nationkey FROM lake.tpch.nation ORDER BY n_nationkey")
        .await
        .expect("prepare");
    let portal = transaction.bind(&statement, &[]).await.expect("bind");
    let mut keys = Vec::new();
    loop {
        // Execute with max_rows = 7: PortalSuspended after each full batch.
        let rows = transaction.query_portal(&portal, 7).await.expect("execute");
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 7);
        keys.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
    }
    assert_eq!(keys, (0..25).collect::<Vec<i64>>());
    transaction.commit().await.expect("commit");
}

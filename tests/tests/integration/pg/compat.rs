//! What BI tools and PostgreSQL clients send, answered as PostgreSQL answers it: date
//! columns filtered with timestamps (the scan gets only what it evaluates exactly),
//! repeated output names, PostgreSQL's `to_char` patterns, set-returning
//! `generate_series`, `int4` literals, and the functions PostgreSQL has under its names.

use lakegate_tests::{TestGateway, query_text};
use tokio_postgres::types::Type;

async fn count(client: &tokio_postgres::Client, sql: &str) -> String {
    let rows = query_text(client, sql).await;
    rows[0][0].clone().expect("a count")
}

#[tokio::test]
async fn dates_filtered_with_timestamps_answer_as_dates() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let by_date = count(
        &client,
        "SELECT count(*) FROM lake.tpch.orders WHERE o_orderdate >= DATE '1995-01-01'",
    )
    .await;
    assert_ne!(by_date, "0");
    for sql in [
        "SELECT count(*) FROM lake.tpch.orders WHERE o_orderdate >= timestamp '1995-01-01 00:00:00'",
        "SELECT count(*) FROM lake.tpch.orders WHERE o_orderdate >= '1995-01-01 00:00:00'::timestamp",
        "SELECT count(*) FROM lake.tpch.orders WHERE cast(o_orderdate AS timestamp) >= timestamp '1995-01-01 00:00:00'",
        "SELECT count(*) FROM lake.tpch.orders WHERE o_orderdate >= timestamptz '1995-01-01 00:00:00+00'",
        "SELECT count(*) FROM lake.tpch.orders WHERE timestamp '1995-01-01 00:00:00' <= o_orderdate",
        "SELECT count(*) FROM lake.tpch.orders WHERE o_orderdate > timestamp '1994-12-31 12:00:00'",
    ] {
        assert_eq!(count(&client, sql).await, by_date, "{sql}");
    }
    // Bounds inside a day, BETWEEN and IN, against their date forms.
    let pairs = [
        (
            "o_orderdate < timestamp '1995-01-01 12:00:00'",
            "o_orderdate <= DATE '1995-01-01'",
        ),
        (
            "o_orderdate <= timestamp '1995-01-01 12:00:00'",
            "o_orderdate <= DATE '1995-01-01'",
        ),
        (
            "o_orderdate > timestamp '1995-01-01 12:00:00'",
            "o_orderdate > DATE '1995-01-01'",
        ),
        (
            "o_orderdate BETWEEN timestamp '1995-01-01 00:00:00' AND timestamp '1995-03-31 23:59:59'",
            "o_orderdate BETWEEN DATE '1995-01-01' AND DATE '1995-03-31'",
        ),
        (
            "o_orderdate IN (timestamp '1995-01-01 00:00:00', timestamp '1995-01-02 00:00:00')",
            "o_orderdate IN (DATE '1995-01-01', DATE '1995-01-02')",
        ),
        (
            "o_orderdate = timestamp '1995-01-01 10:00:00'",
            "o_orderdate <> o_orderdate",
        ),
    ];
    for (with_timestamp, with_date) in pairs {
        let a = count(
            &client,
            &format!("SELECT count(*) FROM lake.tpch.orders WHERE {with_timestamp}"),
        )
        .await;
        let b = count(
            &client,
            &format!("SELECT count(*) FROM lake.tpch.orders WHERE {with_date}"),
        )
        .await;
        assert_eq!(a, b, "{with_timestamp} vs {with_date}");
    }
    // The shape Power BI's PostgreSQL connector folds a report filter into.
    let power_bi = "select \"_\".\"o_orderstatus\", \"_\".\"a0\" from (select \"rows\".\"o_orderstatus\" as \"o_orderstatus\", count(distinct(\"rows\".\"o_custkey\")) as \"a0\" from (select \"_\".\"o_custkey\", \"_\".\"o_orderstatus\" from \"tpch\".\"orders\" \"_\" where \"_\".\"o_orderdate\" >= timestamp '1995-01-01 00:00:00' and \"_\".\"o_orderdate\" < timestamp '1996-01-01 00:00:00') \"rows\" group by \"o_orderstatus\") \"_\" where not \"_\".\"a0\" is null order by 1 limit 1000001";
    let by_hand = "SELECT o_orderstatus, count(DISTINCT o_custkey) FROM lake.tpch.orders \
                   WHERE o_orderdate >= DATE '1995-01-01' AND o_orderdate < DATE '1996-01-01' \
                   GROUP BY 1 ORDER BY 1";
    let got = query_text(&client, power_bi).await;
    assert!(!got.is_empty());
    assert_eq!(got, query_text(&client, by_hand).await);
    // The date form reaches the Iceberg scan, so the filter still prunes.
    let plan = query_text(
        &client,
        "EXPLAIN SELECT count(*) FROM lake.tpch.orders WHERE o_orderdate >= timestamp '1995-01-01 12:00:00'",
    )
    .await;
    // Iceberg's scan shows `predicate:[o_orderdate >= 1995-01-02]`; DataFusion's scan of
    // Iceberg's files prunes with it too (`o_orderdate@4 >= 1995-01-02`).
    let text = format!("{plan:?}");
    assert!(
        text.contains("predicate:[o_orderdate >= 1995-01-02]")
            || text.contains("o_orderdate@4 >= 1995-01-02"),
        "{text}"
    );
}

#[tokio::test]
async fn repeated_output_names_are_legal() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let cases: [(&str, &[&str]); 4] = [
        (
            "SELECT count(*), (SELECT count(*) FROM lake.tpch.region) FROM lake.tpch.nation",
            &["count", "count"],
        ),
        (
            "SELECT l_quantity / 7, l_quantity::int / 7 FROM lake.tpch.lineitem ORDER BY l_orderkey, l_linenumber LIMIT 2",
            &["?column?", "?column?"],
        ),
        (
            "SELECT cast(l_extendedprice AS int), cast(l_extendedprice AS bigint) FROM lake.tpch.lineitem ORDER BY l_orderkey, l_linenumber LIMIT 2",
            &["l_extendedprice", "l_extendedprice"],
        ),
        (
            "SELECT l_shipdate::timestamp, l_shipdate::text, l_quantity::text FROM lake.tpch.lineitem ORDER BY l_orderkey, l_linenumber LIMIT 2",
            &["l_shipdate", "l_shipdate", "l_quantity"],
        ),
    ];
    for (sql, names) in cases {
        let statement = client
            .prepare(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let got: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
        assert_eq!(got, names, "{sql}");
        let rows = query_text(&client, sql).await;
        assert!(!rows.is_empty(), "{sql}");
    }
    let rows = query_text(
        &client,
        "SELECT count(*), (SELECT count(*) FROM lake.tpch.region) FROM lake.tpch.nation",
    )
    .await;
    assert_eq!(rows, vec![vec![Some("25".into()), Some("5".into())]]);
}

#[tokio::test]
async fn integer_literals_are_int4_and_counts_int8() {
    // The functions' answers are in tests/slt/pg_functions/functions.slt.
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    // Integer literals are PostgreSQL's integer (int4); count(*) is bigint.
    let statement = client
        .prepare("SELECT 1 AS x, count(*) AS n FROM lake.tpch.region")
        .await
        .expect("prepare");
    let types: Vec<Type> = statement
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    assert_eq!(types, vec![Type::INT4, Type::INT8]);
    let row = client.query_one(&statement, &[]).await.expect("row");
    assert_eq!(row.get::<_, i32>(0), 1);
    assert_eq!(row.get::<_, i64>(1), 5);
}

/// COPY streams what the query's RowDescription describes and what its rows hold, for
/// a principal whose columns are masked (the schema the mask changes).
#[tokio::test]
async fn copy_output_follows_the_described_schema() {
    use futures::TryStreamExt;
    let gw = TestGateway::start().await;
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let sql =
        "SELECT c_custkey, c_phone, 1 AS one FROM lake.tpch.customer ORDER BY c_custkey LIMIT 5";
    let described = analyst.prepare(sql).await.expect("describe");
    let names: Vec<&str> = described.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["c_custkey", "c_phone", "one"]);
    let types: Vec<Type> = described
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    assert_eq!(types, vec![Type::INT8, Type::TEXT, Type::INT4]);
    let rows = query_text(&analyst, sql).await;
    assert_eq!(rows.len(), 5);
    assert!(
        rows.iter()
            .all(|r| r[1].as_deref().is_some_and(|p| p.starts_with("XX"))),
        "{rows:?}"
    );
    let copied: Vec<bytes::Bytes> = analyst
        .copy_out(&format!("COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)"))
        .await
        .expect("copy")
        .try_collect()
        .await
        .expect("copy data");
    let text = String::from_utf8(copied.concat()).expect("utf-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("c_custkey,c_phone,one"));
    let copied_rows: Vec<Vec<Option<String>>> = lines
        .map(|line| line.split(',').map(|v| Some(v.to_string())).collect())
        .collect();
    assert_eq!(copied_rows, rows);
}

//! COPY … TO STDOUT in text, CSV and binary, through the extended protocol
//! (tokio-postgres) and the simple protocol (psql), checked against the rows.

use futures::TryStreamExt;
use lakegate_tests::{TestGateway, query_text};

async fn copy_out(client: &tokio_postgres::Client, sql: &str) -> Vec<u8> {
    let stream = client.copy_out(sql).await.expect("copy out");
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.expect("copy data");
    chunks.concat()
}

#[tokio::test]
async fn text_and_csv_rows_match_the_query() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let text = copy_out(
        &client,
        "COPY (SELECT n_nationkey, n_name FROM lake.tpch.nation ORDER BY 1 LIMIT 3) TO STDOUT",
    )
    .await;
    assert_eq!(
        String::from_utf8(text).expect("test value"),
        "0\tALGERIA\n1\tARGENTINA\n2\tBRAZIL\n"
    );
    let csv = copy_out(
        &client,
        "COPY (SELECT n_nationkey AS key, n_name AS name FROM lake.tpch.nation ORDER BY 1 LIMIT 2) \
         TO STDOUT WITH (FORMAT csv, HEADER)",
    )
    .await;
    assert_eq!(
        String::from_utf8(csv).expect("test value"),
        "key,name\n0,ALGERIA\n1,ARGENTINA\n"
    );
    // Every row of a table, by table name.
    let all = copy_out(&client, "COPY lake.tpch.region TO STDOUT").await;
    assert_eq!(
        String::from_utf8(all).expect("test value").lines().count(),
        5
    );
}

#[tokio::test]
async fn text_and_csv_escape_and_mark_nulls() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let sql =
        "SELECT 'tab\there' AS a, CAST(NULL AS TEXT) AS b, 'say \"hi\", then\nleave' AS c, '' AS d";
    let text = copy_out(&client, &format!("COPY ({sql}) TO STDOUT")).await;
    assert_eq!(
        String::from_utf8(text).expect("test value"),
        "tab\\there\t\\N\tsay \"hi\", then\\nleave\t\n"
    );
    let csv = copy_out(&client, &format!("COPY ({sql}) TO STDOUT (FORMAT csv)")).await;
    assert_eq!(
        String::from_utf8(csv).expect("test value"),
        "tab\there,,\"say \"\"hi\"\", then\nleave\",\"\"\n"
    );
    let custom = copy_out(
        &client,
        &format!(
            "COPY ({sql}) TO STDOUT (FORMAT csv, DELIMITER '|', NULL 'NULL', FORCE_QUOTE (a))"
        ),
    )
    .await;
    assert_eq!(
        String::from_utf8(custom).expect("test value"),
        "\"tab\there\"|NULL|\"say \"\"hi\"\", then\nleave\"|\n"
    );
}

#[tokio::test]
async fn binary_copy_has_header_fields_and_trailer() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let data = copy_out(
        &client,
        "COPY (SELECT CAST(7 AS INT) AS i, CAST(NULL AS TEXT) AS t, 'x' AS s) TO STDOUT (FORMAT binary)",
    )
    .await;
    let mut expected = b"PGCOPY\n\xff\r\n\0".to_vec();
    expected.extend_from_slice(&0i32.to_be_bytes()); // flags
    expected.extend_from_slice(&0i32.to_be_bytes()); // header extension
    expected.extend_from_slice(&3i16.to_be_bytes()); // fields in the tuple
    expected.extend_from_slice(&4i32.to_be_bytes());
    expected.extend_from_slice(&7i32.to_be_bytes());
    expected.extend_from_slice(&(-1i32).to_be_bytes());
    expected.extend_from_slice(&1i32.to_be_bytes());
    expected.extend_from_slice(b"x");
    expected.extend_from_slice(&(-1i16).to_be_bytes()); // trailer
    assert_eq!(data, expected);
}

#[tokio::test]
async fn copy_is_governed_like_a_query() {
    let gw = TestGateway::start().await;
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let rows = copy_out(
        &analyst,
        "COPY (SELECT r_name FROM lake.tpch.region ORDER BY 1) TO STDOUT",
    )
    .await;
    assert_eq!(String::from_utf8(rows).expect("test value"), "EUROPE\n");
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    let error = auditor
        .copy_out("COPY lake.tpch.orders TO STDOUT")
        .await
        .err()
        .expect("denied");
    assert_eq!(error.code().map(|c| c.code()), Some("42501"), "{error}");
}

#[tokio::test]
async fn unsupported_copy_forms_are_refused_with_their_codes() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    for (sql, code) in [
        ("COPY lake.tpch.nation FROM STDIN", "25006"),
        ("COPY lake.tpch.nation TO '/tmp/nation.txt'", "0A000"),
        ("COPY (SELECT 1) TO STDOUT (FORMAT binary, HEADER)", "42601"),
        ("COPY (SELECT 1) TO STDOUT (FORMAT parquet)", "22023"),
        (
            "COPY (SELECT 1 AS a) TO STDOUT (FORMAT csv, FORCE_QUOTE (b))",
            "42703",
        ),
        ("COPY lake.tpch.nope TO STDOUT", "42P01"),
    ] {
        let error = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(error.code().map(|c| c.code()), Some(code), "{sql}: {error}");
    }
    // The connection is still usable.
    assert_eq!(
        query_text(&client, "SELECT 1").await,
        vec![vec![Some("1".into())]]
    );
}

#[tokio::test]
async fn psql_copies_through_the_simple_protocol() {
    let gw = TestGateway::start().await;
    let output = tokio::process::Command::new("psql")
        .arg(gw.conn_str("demo", "demo"))
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "COPY (SELECT r_regionkey, r_name FROM lake.tpch.region ORDER BY 1) TO STDOUT WITH CSV HEADER",
            "-c",
            "SELECT 'after copy'",
        ])
        .output()
        .await
        .expect("psql runs (apt-get install postgresql-client)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with(
            "r_regionkey,r_name\n0,AFRICA\n1,AMERICA\n2,ASIA\n3,EUROPE\n4,MIDDLE EAST\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("after copy"), "{stdout}");
}

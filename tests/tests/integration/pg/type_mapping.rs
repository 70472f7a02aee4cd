//! The wider type map: unsigned ints, float16, wide decimals, every time unit,
//! intervals and durations, lists as arrays, structs and maps as json — with the OID,
//! typmod, text form and binary form PostgreSQL would send.

use lakegate_tests::{TestGateway, query_text};
use postgres_types::{FromSql, Type};
use rust_decimal::Decimal;

/// Any value's binary form, undecoded.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// (expression, OID name, text form)
const CASES: &[(&str, &str, &str)] = &[
    ("arrow_cast(200, 'UInt8')", "int2", "200"),
    ("arrow_cast(60000, 'UInt16')", "int4", "60000"),
    ("arrow_cast(4000000000, 'UInt32')", "int8", "4000000000"),
    (
        "arrow_cast('18446744073709551615', 'UInt64')",
        "numeric",
        "18446744073709551615",
    ),
    ("arrow_cast(-5, 'Int8')", "int2", "-5"),
    (
        "arrow_cast(CAST(1.5 AS DOUBLE), 'Float16')",
        "float4",
        "1.5",
    ),
    ("CAST(1e20 AS DOUBLE)", "float8", "1e+20"),
    ("CAST(0.0001 AS DOUBLE)", "float8", "0.0001"),
    ("CAST(0.00001 AS DOUBLE)", "float8", "1e-05"),
    (
        "arrow_cast('123456789012345678901234567890123456789012.5', 'Decimal256(60, 1)')",
        "numeric",
        "123456789012345678901234567890123456789012.5",
    ),
    ("CAST(-0.05 AS DECIMAL(10, 4))", "numeric", "-0.0500"),
    (
        "arrow_cast(TIMESTAMP '2024-01-02 03:04:05.123456', 'Timestamp(Second, None)')",
        "timestamp",
        "2024-01-02 03:04:05",
    ),
    (
        "arrow_cast(TIMESTAMP '2024-01-02 03:04:05.123456', 'Timestamp(Nanosecond, None)')",
        "timestamp",
        "2024-01-02 03:04:05.123456",
    ),
    (
        "arrow_cast(TIMESTAMP '2024-01-02 03:04:05.5', 'Timestamp(Millisecond, Some(\"+00:00\"))')",
        "timestamptz",
        "2024-01-02 03:04:05.5+00",
    ),
    (
        "arrow_cast(DATE '2024-02-29', 'Date64')",
        "date",
        "2024-02-29",
    ),
    (
        "arrow_cast(TIME '12:34:56.25', 'Time32(Millisecond)')",
        "time",
        "12:34:56.25",
    ),
    (
        "INTERVAL '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds'",
        "interval",
        "1 year 2 mons 3 days 04:05:06.5",
    ),
    (
        "arrow_cast(90061, 'Duration(Second)')",
        "interval",
        // Whole days apart, as PostgreSQL's timestamp subtraction gives them.
        "1 day 01:01:01",
    ),
    ("make_array(1, 2, NULL)", "_int4", "{1,2,NULL}"),
    (
        "make_array('a', 'b c', 'say \"x\"', '')",
        "_text",
        "{a,\"b c\",\"say \\\"x\\\"\",\"\"}",
    ),
    (
        "named_struct('a', 1, 'b', 'x', 'c', CAST(NULL AS INT))",
        "json",
        "{\"a\":1,\"b\":\"x\",\"c\":null}",
    ),
    (
        "make_array(make_array(1, 2), make_array(3))",
        "json",
        "[[1,2],[3]]",
    ),
    ("map(['k1', 'k2'], [1, 2])", "json", "{\"k1\":1,\"k2\":2}"),
    ("arrow_cast('ab', 'LargeUtf8')", "text", "ab"),
    ("arrow_cast('ab', 'Utf8View')", "text", "ab"),
    ("arrow_cast('ab', 'LargeBinary')", "bytea", "\\x6162"),
    ("arrow_cast('a', 'Dictionary(Int32, Utf8)')", "text", "a"),
];

#[tokio::test]
async fn every_mapped_type_has_its_oid_and_text_form() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    for (expr, oid_name, text) in CASES {
        let sql = format!("SELECT {expr} AS v");
        let statement = client
            .prepare(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(
            statement.columns()[0].type_().name(),
            *oid_name,
            "type of {expr}"
        );
        let rows = query_text(&client, &sql).await;
        assert_eq!(rows, vec![vec![Some(text.to_string())]], "text of {expr}");
        // The binary form decodes (checked in detail below for the composite types).
        let row = client.query_one(&statement, &[]).await.expect("binary");
        let _: Raw = row.get(0);
        // NULL of the same type.
        let null_sql = format!("SELECT CASE WHEN false THEN {expr} END AS v");
        let rows = query_text(&client, &null_sql).await;
        assert_eq!(rows, vec![vec![None]], "NULL of {expr}");
    }
}

#[tokio::test]
async fn binary_forms_decode_with_postgres_semantics() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let row = client
        .query_one(
            "SELECT make_array(1, 2, NULL) AS a, make_array('x', 'y') AS t, \
             arrow_cast('18446744073709551615', 'UInt64') AS u, \
             CAST(-0.05 AS DECIMAL(10, 4)) AS d, \
             arrow_cast(4000000000, 'UInt32') AS u32",
            &[],
        )
        .await
        .expect("row");
    assert_eq!(
        row.get::<_, Vec<Option<i32>>>(0),
        vec![Some(1), Some(2), None]
    );
    assert_eq!(row.get::<_, Vec<String>>(1), vec!["x", "y"]);
    assert_eq!(row.get::<_, Decimal>(2).to_string(), "18446744073709551615");
    assert_eq!(row.get::<_, Decimal>(3).to_string(), "-0.0500");
    assert_eq!(row.get::<_, i64>(4), 4_000_000_000);
    // interval: microseconds, days, months.
    let row = client
        .query_one(
            "SELECT INTERVAL '1 year 2 months 3 days 4 hours' AS i, named_struct('a', 1) AS j",
            &[],
        )
        .await
        .expect("interval");
    let Raw(interval) = row.get(0);
    let mut expected = (4i64 * 3_600_000_000).to_be_bytes().to_vec();
    expected.extend_from_slice(&3i32.to_be_bytes());
    expected.extend_from_slice(&14i32.to_be_bytes());
    assert_eq!(interval, expected);
    let Raw(json) = row.get(1);
    assert_eq!(json, b"{\"a\":1}");
}

//! Every Arrow type the gateway maps, with NULLs, in binary (extended) and text (simple)
//! result formats.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use lakegate_tests::{TestGateway, query_text};
use rust_decimal::Decimal;
use tokio_postgres::types::Type;

const VALUES: &str = "SELECT true AS b, CAST(2 AS SMALLINT) AS i2, CAST(4 AS INT) AS i4, \
    CAST(8 AS BIGINT) AS i8, CAST(1.5 AS REAL) AS f4, CAST(2.25 AS DOUBLE) AS f8, \
    CAST(12.34 AS DECIMAL(10,2)) AS num, 'text' AS t, CAST('ab' AS BYTEA) AS by, \
    DATE '2024-02-29' AS d, TIMESTAMP '2024-02-29 12:34:56.789' AS ts, \
    CAST(TIMESTAMP '2024-02-29 12:34:56' AS TIMESTAMP WITH TIME ZONE) AS tstz";

const NULLS: &str = "SELECT CAST(NULL AS BOOLEAN) AS b, CAST(NULL AS SMALLINT) AS i2, \
    CAST(NULL AS INT) AS i4, CAST(NULL AS BIGINT) AS i8, CAST(NULL AS REAL) AS f4, \
    CAST(NULL AS DOUBLE) AS f8, CAST(NULL AS DECIMAL(10,2)) AS num, CAST(NULL AS TEXT) AS t, \
    CAST(NULL AS BYTEA) AS by, CAST(NULL AS DATE) AS d, CAST(NULL AS TIMESTAMP) AS ts, \
    CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS tstz";

#[tokio::test]
async fn binary_results_decode_to_the_right_types() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let row = client.query_one(VALUES, &[]).await.expect("values");
    let types: Vec<Type> = row.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(
        types,
        vec![
            Type::BOOL,
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::NUMERIC,
            Type::TEXT,
            Type::BYTEA,
            Type::DATE,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ
        ]
    );
    assert!(row.get::<_, bool>("b"));
    assert_eq!(row.get::<_, i16>("i2"), 2);
    assert_eq!(row.get::<_, i32>("i4"), 4);
    assert_eq!(row.get::<_, i64>("i8"), 8);
    assert_eq!(row.get::<_, f32>("f4"), 1.5);
    assert_eq!(row.get::<_, f64>("f8"), 2.25);
    assert_eq!(row.get::<_, Decimal>("num"), Decimal::new(1234, 2));
    assert_eq!(row.get::<_, &str>("t"), "text");
    assert_eq!(row.get::<_, &[u8]>("by"), b"ab");
    assert_eq!(
        row.get::<_, NaiveDate>("d"),
        NaiveDate::from_ymd_opt(2024, 2, 29).expect("date")
    );
    let ts = NaiveDate::from_ymd_opt(2024, 2, 29)
        .and_then(|d| d.and_hms_milli_opt(12, 34, 56, 789))
        .expect("timestamp");
    assert_eq!(row.get::<_, NaiveDateTime>("ts"), ts);
    let tstz = NaiveDate::from_ymd_opt(2024, 2, 29)
        .and_then(|d| d.and_hms_opt(12, 34, 56))
        .expect("timestamp")
        .and_utc();
    assert_eq!(row.get::<_, DateTime<Utc>>("tstz"), tstz);

    let nulls = client.query_one(NULLS, &[]).await.expect("nulls");
    assert_eq!(nulls.columns().len(), 12);
    assert_eq!(nulls.get::<_, Option<bool>>("b"), None);
    assert_eq!(nulls.get::<_, Option<i16>>("i2"), None);
    assert_eq!(nulls.get::<_, Option<i32>>("i4"), None);
    assert_eq!(nulls.get::<_, Option<i64>>("i8"), None);
    assert_eq!(nulls.get::<_, Option<f32>>("f4"), None);
    assert_eq!(nulls.get::<_, Option<f64>>("f8"), None);
    assert_eq!(nulls.get::<_, Option<Decimal>>("num"), None);
    assert_eq!(nulls.get::<_, Option<&str>>("t"), None);
    assert_eq!(nulls.get::<_, Option<&[u8]>>("by"), None);
    assert_eq!(nulls.get::<_, Option<NaiveDate>>("d"), None);
    assert_eq!(nulls.get::<_, Option<NaiveDateTime>>("ts"), None);
    assert_eq!(nulls.get::<_, Option<DateTime<Utc>>>("tstz"), None);
}

#[tokio::test]
async fn text_results_use_postgres_spelling() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let rows = query_text(&client, VALUES).await;
    let text: Vec<&str> = rows[0]
        .iter()
        .map(|v| v.as_deref().unwrap_or("NULL"))
        .collect();
    assert_eq!(&text[..4], &["t", "2", "4", "8"]);
    assert_eq!(text[6], "12.34");
    assert_eq!(text[7], "text");
    assert_eq!(text[8], "\\x6162");
    assert_eq!(text[9], "2024-02-29");
    assert!(
        text[10].starts_with("2024-02-29 12:34:56.789"),
        "{}",
        text[10]
    );

    let rows = query_text(&client, NULLS).await;
    assert!(rows[0].iter().all(Option::is_none));
}

#[tokio::test]
async fn typed_parameters_of_every_kind_bind() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let date = NaiveDate::from_ymd_opt(1995, 3, 15).expect("date");
    let row = client
        .query_one(
            "SELECT $1::BIGINT + 1, $2::DOUBLE * 2, $3::TEXT || '!', $4::BOOLEAN, $5::DATE, $6::INT",
            &[&41i64, &1.25f64, &"hi", &true, &date, &None::<i32>],
        )
        .await
        .expect("parameters");
    assert_eq!(row.get::<_, i64>(0), 42);
    assert_eq!(row.get::<_, f64>(1), 2.5);
    assert_eq!(row.get::<_, &str>(2), "hi!");
    assert!(row.get::<_, bool>(3));
    assert_eq!(row.get::<_, NaiveDate>(4), date);
    assert_eq!(row.get::<_, Option<i32>>(5), None);
}

#[tokio::test]
async fn non_finite_floats_are_spelled_like_postgres() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let rows = query_text(&client, "SELECT CAST('inf' AS DOUBLE) a, CAST('-inf' AS DOUBLE) b, CAST('nan' AS DOUBLE) c, CAST('inf' AS REAL) d").await;
    let text: Vec<&str> = rows[0]
        .iter()
        .map(|v| v.as_deref().unwrap_or("NULL"))
        .collect();
    assert_eq!(text, vec!["Infinity", "-Infinity", "NaN", "Infinity"]);
    let row = client
        .query_one("SELECT CAST('inf' AS DOUBLE)", &[])
        .await
        .expect("binary");
    assert_eq!(row.get::<_, f64>(0), f64::INFINITY);
}

//! The start of pg_catalog that drivers read on connect: pg_type, pg_namespace and
//! pg_class as the principal sees them, `oid` columns, and the session functions.

use lakegate_tests::{TestGateway, query_text};
use tokio_postgres::types::Type;

#[tokio::test]
async fn drivers_connect_time_probes_are_answered() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    // psycopg2 / SQLAlchemy look for hstore; psqlODBC looks for lo. Neither exists.
    let hstore = query_text(
        &client,
        "SELECT t.oid, typarray FROM pg_type t JOIN pg_namespace ns ON typnamespace = ns.oid \
         WHERE typname = 'hstore'",
    )
    .await;
    assert!(hstore.is_empty(), "{hstore:?}");
    let lo = query_text(
        &client,
        "select oid, typbasetype from pg_type where typname = 'lo'",
    )
    .await;
    assert!(lo.is_empty());
    // Every type the gateway sends has its row, with its array type.
    let int4 = query_text(
        &client,
        "SELECT oid, typname, typlen, typarray, typreceive FROM pg_catalog.pg_type \
         WHERE typname IN ('int4', 'numeric', '_int8', 'interval') ORDER BY oid",
    )
    .await;
    assert_eq!(
        int4,
        [
            ["23", "int4", "4", "1007", "int4recv"],
            ["1016", "_int8", "-1", "0", "array_recv"],
            ["1186", "interval", "16", "1187", "interval_recv"],
            ["1700", "numeric", "-1", "1231", "numeric_recv"],
        ]
        .iter()
        .map(|r| r.iter().map(|v| Some(v.to_string())).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
    // oid columns are sent as `oid`.
    let statement = client
        .prepare("SELECT oid FROM pg_type WHERE typname = 'bool'")
        .await
        .expect("prepare");
    assert_eq!(statement.columns()[0].type_(), &Type::OID);
    let row = client.query_one(&statement, &[]).await.expect("bool");
    assert_eq!(row.get::<_, u32>(0), 16);
}

#[tokio::test]
async fn pg_class_and_pg_namespace_follow_the_principal() {
    let gw = TestGateway::start().await;
    let demo = gw.connect().await;
    let tables = query_text(
        &demo,
        "SELECT c.relname FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'tpch' AND c.relkind = 'r' AND pg_table_is_visible(c.oid) \
         ORDER BY 1",
    )
    .await;
    let names: Vec<String> = tables.into_iter().filter_map(|r| r[0].clone()).collect();
    assert_eq!(
        names,
        [
            "customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"
        ]
    );
    let columns = query_text(
        &demo,
        "SELECT relnatts FROM pg_class WHERE relname = 'nation'",
    )
    .await;
    assert_eq!(columns, vec![vec![Some("4".to_string())]]);
    // The same OID in another session.
    let oid = query_text(&demo, "SELECT oid FROM pg_class WHERE relname = 'orders'").await;
    let other = gw.connect().await;
    assert_eq!(
        query_text(&other, "SELECT oid FROM pg_class WHERE relname = 'orders'").await,
        oid
    );
    // The auditor reads no TPC-H table and sees none, nor the tpch schema.
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    let visible = query_text(
        &auditor,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'tpch'",
    )
    .await;
    assert_eq!(visible, vec![vec![Some("0".to_string())]]);
    let schemas = query_text(
        &auditor,
        "SELECT nspname FROM pg_namespace WHERE nspname = 'tpch'",
    )
    .await;
    assert!(schemas.is_empty());
}

#[tokio::test]
async fn session_functions_report_postgres_and_the_search_path() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let version = query_text(&client, "SELECT pg_catalog.version()").await;
    let version = version[0][0].clone().unwrap_or_default();
    assert!(version.starts_with("PostgreSQL 16.6 "), "{version}");
    assert_eq!(
        query_text(&client, "SELECT current_schema(), current_database()").await,
        vec![vec![Some("tpch".to_string()), Some("lake".to_string())]]
    );
    client
        .batch_execute("SET search_path = 'lake.tpch'")
        .await
        .expect("search path");
    assert_eq!(
        query_text(&client, "SELECT current_schema()").await,
        vec![vec![Some("tpch".to_string())]]
    );
}

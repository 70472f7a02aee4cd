//! A table created or appended to by another catalog client is visible to the next
//! query on an open connection, without a restart.

use lakegate_tests::TestGateway;

use crate::catalogs::scratch::{append_events, create_events, other_writer};

#[tokio::test]
async fn tables_created_and_appended_elsewhere_are_visible_at_once() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let other = other_writer().await;

    let missing = client
        .query("SELECT count(*) FROM lake.scratch.events", &[])
        .await
        .expect_err("not created yet");
    assert_eq!(missing.code().map(|c| c.code()), Some("42P01"));

    create_events(&other, "scratch").await;
    append_events(&other, "scratch", 0..10).await;
    let row = client
        .query_one("SELECT count(*) FROM lake.scratch.events", &[])
        .await
        .expect("new table visible");
    assert_eq!(row.get::<_, i64>(0), 10);

    append_events(&other, "scratch", 10..25).await;
    let row = client
        .query_one("SELECT count(*), max(id) FROM lake.scratch.events", &[])
        .await
        .expect("append visible");
    assert_eq!(row.get::<_, i64>(0), 25);
    assert_eq!(row.get::<_, i64>(1), 24);

    // Listed for introspection too.
    let rows = client
        .query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'scratch'",
            &[],
        )
        .await
        .expect("information_schema");
    assert_eq!(rows.len(), 1);
}

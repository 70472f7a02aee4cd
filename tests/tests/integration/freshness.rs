//! A table created or appended to by another catalog client is visible to the next
//! query on an open connection, without a restart.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use iceberg::{NamespaceIdent, TableCreation};
use lakegate_catalog::CatalogRegistry;
use lakegate_catalog::seed::TableAppender;
use lakegate_tests::{TestGateway, seeded_data_dir, test_config};

async fn append(registry: &CatalogRegistry, ids: std::ops::Range<i64>) {
    let lake = &registry.get("lake").expect("lake").lake;
    let table = lake
        .load_table("scratch", "events")
        .await
        .expect("load")
        .expect("exists");
    let mut appender = TableAppender::new(&table).await.expect("appender");
    let names: Vec<String> = ids.clone().map(|i| format!("event-{i}")).collect();
    let batch = RecordBatch::try_new(
        appender.arrow_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(StringArray::from(names)),
        ],
    )
    .expect("batch");
    appender.write(batch).await.expect("write");
    appender
        .commit(lake.iceberg().as_ref())
        .await
        .expect("commit");
}

#[tokio::test]
async fn tables_created_and_appended_elsewhere_are_visible_at_once() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;

    // Another writer: its own catalog connection pool over the same SQLite catalog.
    let config = test_config(seeded_data_dir());
    let other = CatalogRegistry::open(&config.effective_catalogs())
        .await
        .expect("second catalog client");
    let catalog = other.get("lake").expect("lake").lake.iceberg();
    let namespace = NamespaceIdent::new("scratch".into());
    if !catalog.namespace_exists(&namespace).await.expect("exists?") {
        catalog
            .create_namespace(&namespace, Default::default())
            .await
            .expect("namespace");
    }
    let schema = Schema::builder()
        .with_fields(vec![
            Arc::new(NestedField::required(
                1,
                "id",
                Type::Primitive(PrimitiveType::Long),
            )),
            Arc::new(NestedField::required(
                2,
                "name",
                Type::Primitive(PrimitiveType::String),
            )),
        ])
        .build()
        .expect("schema");

    let missing = client
        .query("SELECT count(*) FROM lake.scratch.events", &[])
        .await
        .expect_err("not created yet");
    assert_eq!(missing.code().map(|c| c.code()), Some("42P01"));

    catalog
        .create_table(
            &namespace,
            TableCreation::builder()
                .name("events".into())
                .schema(schema)
                .build(),
        )
        .await
        .expect("create table");
    append(&other, 0..10).await;
    let row = client
        .query_one("SELECT count(*) FROM lake.scratch.events", &[])
        .await
        .expect("new table visible");
    assert_eq!(row.get::<_, i64>(0), 10);

    append(&other, 10..25).await;
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

//! Tables written into the shared lakehouse by another catalog client, as another
//! writer would: `NAMESPACE.events (id bigint, name text)`, one data file per append.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use iceberg::{NamespaceIdent, TableCreation, TableIdent};
use lakegate_catalog::CatalogRegistry;
use lakegate_catalog::seed::TableAppender;
use lakegate_tests::{seeded_data_dir, test_config};

/// A second catalog client over the shared lakehouse: its own connection pool over the
/// same SQLite catalog.
pub async fn other_writer() -> CatalogRegistry {
    let config = test_config(seeded_data_dir());
    CatalogRegistry::open(&config.effective_catalogs())
        .await
        .expect("second catalog client")
}

/// Creates `namespace.events` (replacing an existing one); returns its location.
pub async fn create_events(registry: &CatalogRegistry, namespace: &str) -> String {
    let catalog = registry.get("lake").expect("lake").lake.iceberg();
    let ident = fresh_table(registry, namespace, "events")
        .await
        .namespace()
        .clone();
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
    let created = catalog
        .create_table(
            &ident,
            TableCreation::builder()
                .name("events".into())
                .schema(schema)
                .build(),
        )
        .await
        .expect("create table");
    created.metadata().location().to_string()
}

/// `namespace.name` in the lakehouse, made free: the namespace created if missing, an
/// earlier table of that name dropped.
pub async fn fresh_table(registry: &CatalogRegistry, namespace: &str, name: &str) -> TableIdent {
    let catalog = registry.get("lake").expect("lake").lake.iceberg();
    let ident = NamespaceIdent::new(namespace.into());
    if !catalog.namespace_exists(&ident).await.expect("exists?") {
        catalog
            .create_namespace(&ident, Default::default())
            .await
            .expect("namespace");
    }
    let table = TableIdent::new(ident, name.into());
    if catalog.table_exists(&table).await.expect("exists?") {
        catalog.drop_table(&table).await.expect("drop");
    }
    table
}

/// Appends the ids of `ids` to `namespace.events` as one data file and one snapshot.
pub async fn append_events(registry: &CatalogRegistry, namespace: &str, ids: std::ops::Range<i64>) {
    let lake = &registry.get("lake").expect("lake").lake;
    let table = lake
        .load_table(namespace, "events")
        .await
        .expect("load")
        .expect("exists");
    let mut appender = TableAppender::new(&table).await.expect("appender");
    let names: Vec<String> = ids.clone().map(|i| format!("event-{i:08}")).collect();
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

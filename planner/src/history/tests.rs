//! Tests of the history store: a table written by an older gateway gains the columns
//! added since, keeps its rows, and takes new records with every figure.

use datafusion::prelude::SessionContext;
use iceberg_datafusion::IcebergStaticTableProvider;

use super::*;

fn record(id: &str, row_groups_scanned: u64) -> HistoryRecord {
    HistoryRecord {
        query_id: id.into(),
        session_id: 1,
        user: "demo".into(),
        roles: vec!["role:reader".into()],
        protocol: "postgres".into(),
        sql: Some("SELECT 1".into()),
        status: "finished".into(),
        error: None,
        started_at: Utc::now(),
        ended_at: Utc::now(),
        tables: Vec::new(),
        cache_hit: true,
        figures: QueryFigures {
            row_groups_scanned,
            ..QueryFigures::default()
        },
    }
}

#[tokio::test]
async fn an_older_history_table_gains_the_added_columns() {
    let dir = tempfile::tempdir().expect("dir");
    let config = HistoryConfig {
        flush_rows: 100,
        flush_interval: Duration::from_secs(3600),
    };
    // The table as the first release created it, with one record.
    {
        let lake = LakeCatalog::open_sql(&catalog_config(dir.path()))
            .await
            .expect("catalog");
        let namespace = NamespaceIdent::new(NAMESPACE.into());
        lake.iceberg()
            .create_namespace(&namespace, Default::default())
            .await
            .expect("namespace");
        let current = iceberg_schema().expect("schema");
        let first: Vec<_> = current
            .as_struct()
            .fields()
            .iter()
            .filter(|f| !ADDED_COLUMNS.iter().any(|(name, _)| *name == f.name))
            .cloned()
            .collect();
        let old = Schema::builder()
            .with_fields(first)
            .build()
            .expect("old schema");
        lake.iceberg()
            .create_table(
                &namespace,
                TableCreation::builder()
                    .name(TABLE.into())
                    .schema(old)
                    .build(),
            )
            .await
            .expect("old table");
    }
    let store = HistoryStore::open(dir.path(), config.clone())
        .await
        .expect("opens the old table");
    for (name, _) in ADDED_COLUMNS {
        assert!(store.schema().field_with_name(name).is_ok(), "{name}");
    }
    store.record(record("q1", 7));
    assert_eq!(store.flush().await.expect("flush"), 1);
    drop(store);

    // Opening it again changes nothing, and the figures read back.
    let store = HistoryStore::open(dir.path(), config)
        .await
        .expect("reopens");
    let table = store.table().await.expect("table");
    assert_eq!(table.metadata().schemas_iter().count(), 2);
    let ctx = SessionContext::new();
    ctx.register_table(
        "history",
        Arc::new(
            IcebergStaticTableProvider::try_new_from_table(table)
                .await
                .expect("provider"),
        ),
    )
    .expect("register");
    let batches = ctx
        .sql("SELECT query_id, row_groups_scanned, files_pruned, cache_hit FROM history")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("read");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .expect("format")
        .to_string();
    assert!(
        text.contains("| q1       | 7                  | 0            | true      |"),
        "{text}"
    );
}

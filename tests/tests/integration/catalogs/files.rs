//! A directory of Parquet, CSV and JSON files as catalog `files`: tables found by
//! directory and file name, queried and joined with Iceberg, bytes read counted per
//! query, files added while serving seen by the next statement, grants applied.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use lakegate_catalog::{CatalogConfig, CatalogType};
use lakegate_tests::s3_server::S3Server;
use lakegate_tests::{TestGateway, query_text, seeded_data_dir, statement_figures, test_config};
use parquet::arrow::ArrowWriter;
use tokio_postgres::error::SqlState;

/// Writes `rows` orders (`id`, `nation`, `note`) with ids from `first` as one Parquet file.
fn write_orders(path: &Path, first: i64, rows: i64) {
    std::fs::write(path, orders_parquet(first, rows)).expect("parquet file");
}

/// `rows` orders (`id`, `nation`, `note`) with ids from `first`, as Parquet bytes.
fn orders_parquet(first: i64, rows: i64) -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("nation", DataType::Int64, false),
        Field::new("note", DataType::Utf8, false),
    ]));
    let ids: Vec<i64> = (first..first + rows).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(Int64Array::from_iter_values(ids.iter().map(|i| i % 25))),
            Arc::new(StringArray::from_iter_values(
                ids.iter()
                    .map(|i| format!("a fairly long note for order number {i}")),
            )),
        ],
    )
    .expect("batch");
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    bytes
}

#[tokio::test]
async fn files_are_tables_queried_joined_metered_and_governed() {
    let root = tempfile::tempdir().expect("dir");
    let sales = root.path().join("sales");
    std::fs::create_dir_all(sales.join("orders")).expect("dirs");
    write_orders(&sales.join("orders/part-0.parquet"), 0, 3000);
    write_orders(&sales.join("orders/part-1.parquet"), 3000, 2000);
    std::fs::write(
        sales.join("targets.csv"),
        "nation,target,label\n1,100,ARGENTINA\n2,250,BRAZIL\n",
    )
    .expect("csv");
    std::fs::write(
        sales.join("events.json"),
        "{\"id\": 1, \"kind\": \"click\"}\n{\"id\": 2, \"kind\": \"view\"}\n{\"id\": 3, \"kind\": \"click\"}\n",
    )
    .expect("json");

    let mut config = test_config(seeded_data_dir());
    let mut catalogs = config.effective_catalogs();
    catalogs.push(CatalogConfig {
        name: "files".into(),
        kind: CatalogType::Files,
        location: Some(root.path().display().to_string()),
        ..Default::default()
    });
    config.catalogs = catalogs;
    let gw = TestGateway::start_with(config).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");

    // A directory of Parquet files, a CSV file and a JSON file, each a table.
    assert_eq!(
        query_text(&admin, "SELECT count(*), sum(id) FROM files.sales.orders").await,
        vec![vec![Some("5000".into()), Some("12497500".into())]]
    );
    assert_eq!(
        query_text(
            &admin,
            "SELECT label, target FROM files.sales.targets ORDER BY nation"
        )
        .await,
        vec![
            vec![Some("ARGENTINA".into()), Some("100".into())],
            vec![Some("BRAZIL".into()), Some("250".into())],
        ]
    );
    assert_eq!(
        query_text(
            &admin,
            "SELECT kind, count(*) FROM files.sales.events GROUP BY kind ORDER BY kind"
        )
        .await,
        vec![
            vec![Some("click".into()), Some("2".into())],
            vec![Some("view".into()), Some("1".into())],
        ]
    );
    let listed = query_text(
        &admin,
        "SELECT table_name FROM files.information_schema.tables \
         WHERE table_schema = 'sales' ORDER BY 1",
    )
    .await;
    assert_eq!(
        listed,
        vec![
            vec![Some("events".into())],
            vec![Some("orders".into())],
            vec![Some("targets".into())],
        ]
    );

    // Joined with the Iceberg lakehouse.
    assert_eq!(
        query_text(
            &admin,
            "SELECT n.n_name, count(*) FROM files.sales.orders o \
             JOIN lake.tpch.nation n ON o.nation = n.n_nationkey \
             JOIN files.sales.targets t ON t.nation = n.n_nationkey \
             GROUP BY n.n_name ORDER BY 1"
        )
        .await,
        vec![
            vec![Some("ARGENTINA".into()), Some("200".into())],
            vec![Some("BRAZIL".into()), Some("200".into())],
        ]
    );

    // Bytes are counted where they are read: a scan of every column reads at most the
    // files, one narrow column reads measurably less.
    let sizes: u64 = std::fs::read_dir(sales.join("orders"))
        .expect("dir")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum();
    let (client, mut notices) = gw.connect_metered_admin().await;
    let all = statement_figures(&client, &mut notices, "SELECT * FROM files.sales.orders").await;
    let narrow = statement_figures(
        &client,
        &mut notices,
        "SELECT sum(nation) FROM files.sales.orders",
    )
    .await;
    assert!(all["bytes_scanned"] > 0.0, "{all:?}");
    assert!(
        all["bytes_scanned"] <= sizes as f64 * 1.5,
        "{all:?} vs {sizes}"
    );
    assert!(
        narrow["bytes_scanned"] < all["bytes_scanned"] / 2.0,
        "{narrow:?} {all:?}"
    );
    assert_eq!(all["rows_scanned"], 5000.0, "{all:?}");

    // A file added while serving is read by the next statement.
    write_orders(&sales.join("orders/part-2.parquet"), 5000, 500);
    assert_eq!(
        query_text(&admin, "SELECT count(*) FROM files.sales.orders").await,
        vec![vec![Some("5500".into())]]
    );

    // Grants apply: the demo reader is granted lake.* only.
    let demo = gw.connect().await;
    let err = demo
        .simple_query("SELECT * FROM files.sales.orders")
        .await
        .expect_err("no grant");
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    let err = admin
        .simple_query("INSERT INTO files.sales.orders VALUES (1, 1, 'x')")
        .await
        .expect_err("files are read-only");
    assert_eq!(
        err.code(),
        Some(&SqlState::FEATURE_NOT_SUPPORTED),
        "{err:?}"
    );
    let err = admin
        .simple_query("SELECT * FROM files.sales.nope")
        .await
        .expect_err("no such table");
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE), "{err}");
}

#[tokio::test]
async fn parquet_on_s3_compatible_storage_is_a_catalog_too() {
    use object_store::ObjectStoreExt;
    let Some(s3) = S3Server::start_for_test().await else {
        return;
    };
    let bucket = s3.bucket("exports").await;
    for (n, first) in [(0, 0), (1, 1000)] {
        bucket
            .put(
                &object_store::path::Path::from(format!("lake/sales/orders/part-{n}.parquet")),
                orders_parquet(first, 1000).into(),
            )
            .await
            .expect("upload");
    }
    let gw = TestGateway::start_with(lakegate_tests::config_with_catalog(CatalogConfig {
        name: "s3files".into(),
        kind: CatalogType::Files,
        location: Some("s3://exports/lake".into()),
        options: s3.catalog_options(),
        ..Default::default()
    }))
    .await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    assert_eq!(
        query_text(
            &admin,
            "SELECT count(*), count(DISTINCT n.n_name) FROM s3files.sales.orders o \
             JOIN lake.tpch.nation n ON o.nation = n.n_nationkey"
        )
        .await,
        vec![vec![Some("2000".into()), Some("25".into())]]
    );
    let (client, mut notices) = gw.connect_metered_admin().await;
    let read = statement_figures(
        &client,
        &mut notices,
        "SELECT sum(id) FROM s3files.sales.orders",
    )
    .await;
    assert!(read["bytes_scanned"] > 0.0, "{read:?}");
    assert!(read["read_requests"] > 0.0, "{read:?}");
    // An object uploaded while serving is read by the next statement.
    bucket
        .put(
            &object_store::path::Path::from("lake/sales/orders/part-2.parquet"),
            orders_parquet(2000, 500).into(),
        )
        .await
        .expect("upload");
    assert_eq!(
        query_text(&admin, "SELECT count(*) FROM s3files.sales.orders").await,
        vec![vec![Some("2500".into())]]
    );
}

//! Delta Lake tables, written by the deltalake crate during the test, as catalog
//! `delta`: found by their `_delta_log`, queried and joined with Iceberg, partitions
//! skipped and bytes counted per query, time travel to a version and a time, commits of
//! another writer seen by the next statement, INSERT through the gateway read back by
//! deltalake, grants applied; and the same tables read from S3-compatible storage.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use deltalake_core::DeltaTable;
use deltalake_core::protocol::SaveMode;
use lakegate_catalog::{CatalogConfig, CatalogType};
use lakegate_tests::s3_server::S3Server;
use lakegate_tests::{TestGateway, query_text, seeded_data_dir, statement_figures, test_config};
use tokio_postgres::error::SqlState;

const REGIONS: [&str; 3] = ["ASIA", "EU", "US"];

/// `rows` orders (`id`, `nation`, `region`, `note`) with ids from `first`.
fn orders(first: i64, rows: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("nation", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("note", DataType::Utf8, false),
    ]));
    let ids: Vec<i64> = (first..first + rows).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(Int64Array::from_iter_values(ids.iter().map(|i| i % 25))),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| REGIONS[(*i % 3) as usize]),
            )),
            Arc::new(StringArray::from_iter_values(
                ids.iter()
                    .map(|i| format!("a fairly long note for order number {i}")),
            )),
        ],
    )
    .expect("batch")
}

/// Appends `batch` to the Delta table at `dir` (created on the first write),
/// partitioned by region; returns the new version.
async fn append(dir: &Path, batch: RecordBatch) -> u64 {
    std::fs::create_dir_all(dir).expect("table dir");
    let url = url::Url::from_directory_path(dir).expect("url");
    let table = DeltaTable::try_from_url(url)
        .await
        .expect("open delta table")
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_partition_columns(["region"])
        .await
        .expect("delta write");
    table.version().expect("version")
}

/// Bytes of the Parquet files under `dir`.
fn parquet_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            total += parquet_bytes(&path);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            total += path.metadata().expect("meta").len();
        }
    }
    total
}

fn delta_catalog(name: &str, location: String) -> CatalogConfig {
    CatalogConfig {
        name: name.into(),
        kind: CatalogType::Delta,
        location: Some(location),
        ..Default::default()
    }
}

#[tokio::test]
async fn delta_tables_are_queried_time_travelled_written_metered_and_governed() {
    let root = tempfile::tempdir().expect("dir");
    let orders_dir = root.path().join("sales/orders");
    assert_eq!(append(&orders_dir, orders(0, 3000)).await, 0);
    assert_eq!(append(&orders_dir, orders(3000, 1000)).await, 1);
    // A directory without a Delta log is not a table.
    std::fs::create_dir_all(root.path().join("sales/notes")).expect("dir");
    std::fs::write(root.path().join("sales/notes/readme.txt"), "not a table").expect("file");

    let mut config = test_config(seeded_data_dir());
    let mut catalogs = config.effective_catalogs();
    catalogs.push(delta_catalog("delta", root.path().display().to_string()));
    config.catalogs = catalogs;
    let gw = TestGateway::start_with(config).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");

    assert_eq!(
        query_text(&admin, "SELECT count(*), sum(id) FROM delta.sales.orders").await,
        vec![vec![Some("4000".into()), Some("7998000".into())]]
    );
    assert_eq!(
        query_text(
            &admin,
            "SELECT table_name FROM delta.information_schema.tables \
             WHERE table_schema = 'sales' ORDER BY 1"
        )
        .await,
        vec![vec![Some("orders".into())]]
    );
    // Joined with the Iceberg lakehouse.
    assert_eq!(
        query_text(
            &admin,
            "SELECT count(*), count(DISTINCT n.n_name) FROM delta.sales.orders o \
             JOIN lake.tpch.nation n ON o.nation = n.n_nationkey WHERE o.region = 'EU'"
        )
        .await,
        vec![vec![Some("1333".into()), Some("25".into())]]
    );

    // Bytes are counted where the Parquet data is read: a full scan reads at most the
    // files, a partition filter skips two regions' files.
    let sizes = parquet_bytes(&orders_dir);
    let (client, mut notices) = gw.connect_metered_admin().await;
    let all = statement_figures(&client, &mut notices, "SELECT * FROM delta.sales.orders").await;
    assert!(all["bytes_scanned"] > 0.0, "{all:?}");
    assert!(
        all["bytes_scanned"] <= sizes as f64 * 1.5,
        "{all:?} vs {sizes}"
    );
    assert_eq!(all["rows_scanned"], 4000.0, "{all:?}");
    let eu = statement_figures(
        &client,
        &mut notices,
        "SELECT * FROM delta.sales.orders WHERE region = 'EU'",
    )
    .await;
    assert!(
        eu["bytes_scanned"] < all["bytes_scanned"] / 2.0,
        "{eu:?} {all:?}"
    );
    assert!(eu["rows_scanned"] < 2000.0, "{eu:?}");
    eprintln!(
        "delta bytes: files {sizes}, SELECT * {}, region = 'EU' {}",
        all["bytes_scanned"], eu["bytes_scanned"]
    );
    // The estimate, before anything runs: the files Delta's log keeps after skipping,
    // at their sizes (an upper bound of what is read).
    let estimate = |sql: &'static str| {
        let admin = &admin;
        async move {
            let rows = admin.query(sql, &[]).await.expect(sql);
            let first = &rows[0];
            (
                first.get::<_, i64>(1),
                first.get::<_, i64>(3),
                first.get::<_, i64>(4),
            )
        }
    };
    let (files, bytes, rows) = estimate("EXPLAIN COST SELECT * FROM delta.sales.orders").await;
    assert_eq!((files, bytes as u64, rows), (6, sizes, 4000));
    let (files, bytes, rows) =
        estimate("EXPLAIN COST SELECT * FROM delta.sales.orders WHERE region = 'EU'").await;
    assert_eq!(files, 2, "one file per write of the EU partition");
    assert!(bytes as f64 >= eu["bytes_scanned"], "{bytes} {eu:?}");
    assert!(bytes < (sizes / 2) as i64 && rows < 2000, "{bytes} {rows}");
    let explain = query_text(
        &admin,
        "EXPLAIN SELECT note FROM delta.sales.orders WHERE region = 'EU'",
    )
    .await;
    let explain = format!("{explain:?}");
    assert!(explain.contains("DeltaScan"), "{explain}");

    // Time travel: the first version, and a time before the second commit's.
    assert_eq!(
        query_text(
            &admin,
            "SELECT count(*) FROM delta.sales.orders FOR VERSION AS OF 0"
        )
        .await,
        vec![vec![Some("3000".into())]]
    );
    assert_eq!(
        query_text(
            &admin,
            "SELECT count(*) FROM delta.sales.orders FOR TIMESTAMP AS OF now()"
        )
        .await,
        vec![vec![Some("4000".into())]]
    );
    let err = admin
        .simple_query("SELECT count(*) FROM delta.sales.orders FOR VERSION AS OF 42")
        .await
        .expect_err("no such version");
    assert_eq!(
        err.code(),
        Some(&SqlState::INVALID_PARAMETER_VALUE),
        "{:?}",
        err.as_db_error()
    );
    let message = err.as_db_error().map(|e| e.message()).unwrap_or_default();
    assert!(
        message.contains("delta.sales.orders") && message.contains("42"),
        "{message}"
    );
    let err = admin
        .simple_query(
            "SELECT count(*) FROM delta.sales.orders FOR TIMESTAMP AS OF TIMESTAMP '2001-01-01'",
        )
        .await
        .expect_err("before the first commit");
    assert_eq!(
        err.code(),
        Some(&SqlState::INVALID_PARAMETER_VALUE),
        "{:?}",
        err.as_db_error()
    );

    // Another writer's commit is read by the next statement.
    assert_eq!(append(&orders_dir, orders(4000, 500)).await, 2);
    assert_eq!(
        query_text(&admin, "SELECT count(*) FROM delta.sales.orders").await,
        vec![vec![Some("4500".into())]]
    );

    // INSERT through the gateway commits a Delta version the deltalake crate reads.
    let inserted = admin
        .execute(
            "INSERT INTO delta.sales.orders VALUES (9001, 1, 'EU', 'by the gateway'), \
             (9002, 2, 'US', 'by the gateway')",
            &[],
        )
        .await
        .expect("insert into delta");
    assert_eq!(inserted, 2);
    let url = url::Url::from_directory_path(&orders_dir).expect("url");
    let table = deltalake_core::open_table(url).await.expect("reopen");
    assert_eq!(table.version(), Some(3));
    assert_eq!(
        query_text(
            &admin,
            "SELECT id, region FROM delta.sales.orders WHERE note = 'by the gateway' ORDER BY id"
        )
        .await,
        vec![
            vec![Some("9001".into()), Some("EU".into())],
            vec![Some("9002".into()), Some("US".into())],
        ]
    );

    let err = admin
        .simple_query("CREATE TABLE delta.sales.copy AS SELECT * FROM delta.sales.orders")
        .await
        .expect_err("no CREATE TABLE in Delta catalogs");
    assert_eq!(
        err.code(),
        Some(&SqlState::FEATURE_NOT_SUPPORTED),
        "{err:?}"
    );

    // Grants apply: the demo reader is granted lake.* only; writes need `insert`.
    let demo = gw.connect().await;
    let err = demo
        .simple_query("SELECT * FROM delta.sales.orders")
        .await
        .expect_err("no grant");
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    let err = admin
        .simple_query("SELECT * FROM delta.sales.notes")
        .await
        .expect_err("not a table");
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE), "{err}");
}

#[tokio::test]
async fn delta_tables_on_s3_compatible_storage() {
    use object_store::ObjectStoreExt;
    let Some(s3) = S3Server::start_for_test().await else {
        return;
    };
    // Written by deltalake on disk, then uploaded as they are: log and data files.
    let local = tempfile::tempdir().expect("dir");
    let orders_dir = local.path().join("orders");
    append(&orders_dir, orders(0, 1500)).await;
    append(&orders_dir, orders(1500, 500)).await;
    let bucket = s3.bucket("deltas").await;
    upload(&bucket, &orders_dir, "lake/sales/orders").await;

    let mut catalog = delta_catalog("s3delta", "s3://deltas/lake".into());
    catalog.options = s3.catalog_options();
    let gw = TestGateway::start_with(lakegate_tests::config_with_catalog(catalog)).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    assert_eq!(
        query_text(
            &admin,
            "SELECT count(*), count(DISTINCT n.n_name) FROM s3delta.sales.orders o \
             JOIN lake.tpch.nation n ON o.nation = n.n_nationkey"
        )
        .await,
        vec![vec![Some("2000".into()), Some("25".into())]]
    );
    assert_eq!(
        query_text(
            &admin,
            "SELECT count(*) FROM s3delta.sales.orders FOR VERSION AS OF 0"
        )
        .await,
        vec![vec![Some("1500".into())]]
    );
    let (client, mut notices) = gw.connect_metered_admin().await;
    let read = statement_figures(
        &client,
        &mut notices,
        "SELECT sum(id) FROM s3delta.sales.orders",
    )
    .await;
    assert!(read["bytes_scanned"] > 0.0, "{read:?}");
    assert!(read["read_requests"] > 0.0, "{read:?}");
    assert_eq!(read["rows_scanned"], 2000.0, "{read:?}");

    /// Uploads every file under `dir` to `prefix`, keeping relative paths.
    async fn upload(bucket: &object_store::aws::AmazonS3, dir: &Path, prefix: &str) {
        let mut pending = vec![dir.to_path_buf()];
        while let Some(next) = pending.pop() {
            for entry in std::fs::read_dir(&next).expect("dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let relative = path.strip_prefix(dir).expect("under dir");
                let key = format!("{prefix}/{}", relative.display());
                let bytes = std::fs::read(&path).expect("read");
                bucket
                    .put(&object_store::path::Path::from(key), bytes.into())
                    .await
                    .expect("upload");
            }
        }
    }
}

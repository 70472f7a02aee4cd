//! An Iceberg warehouse on S3-compatible storage (moto): an `iceberg-sql` catalog whose
//! tables are created, appended to, read, joined with the local lakehouse, time
//! travelled, compacted and metered, every file in the bucket.

use futures::TryStreamExt;
use iceberg::NamespaceIdent;
use lakegate_catalog::{CatalogConfig, CatalogRegistry, CatalogType};
use lakegate_tests::s3_server::S3Server;
use lakegate_tests::{TestGateway, notice_figures, query_text};
use object_store::ObjectStore;

#[tokio::test]
async fn an_iceberg_warehouse_on_s3_is_written_read_compacted_and_metered() {
    let Some(s3) = S3Server::start_for_test().await else {
        return;
    };
    let bucket = s3.bucket("warehouse").await;
    let catalog_db = tempfile::tempdir().expect("dir");
    let s3lake = CatalogConfig {
        name: "s3lake".into(),
        kind: CatalogType::IcebergSql,
        warehouse: "s3://warehouse/wh".into(),
        uri: Some(format!(
            "sqlite:{}?mode=rwc",
            catalog_db.path().join("s3lake.db").display()
        )),
        options: s3.catalog_options(),
        ..Default::default()
    };
    // The schema, made by another catalog client (the gateway has no CREATE SCHEMA).
    let registry = CatalogRegistry::open(std::slice::from_ref(&s3lake))
        .await
        .expect("catalog on S3");
    registry
        .get("s3lake")
        .expect("s3lake")
        .lake
        .iceberg()
        .create_namespace(&NamespaceIdent::new("sales".into()), Default::default())
        .await
        .expect("namespace");

    let gw = TestGateway::start_with(lakegate_tests::config_with_catalog(s3lake)).await;
    let (admin, mut notices) = gw.connect_with_notices("admin", "admin").await;
    let copy = |range: &str| {
        format!("SELECT o_orderkey, o_custkey, o_totalprice FROM lake.tpch.orders WHERE {range}")
    };
    admin
        .simple_query(&format!(
            "CREATE TABLE s3lake.sales.orders AS {}",
            copy("o_orderkey < 20000")
        ))
        .await
        .expect("create table as, on S3");
    let first = query_text(
        &admin,
        "SELECT snapshot_id FROM s3lake.sales.\"orders$snapshots\"",
    )
    .await[0][0]
        .clone()
        .expect("snapshot");
    admin
        .simple_query(&format!(
            "INSERT INTO s3lake.sales.orders {}",
            copy("o_orderkey >= 20000 AND o_orderkey < 40000")
        ))
        .await
        .expect("insert, on S3");

    // Every file is in the bucket: data, manifests, metadata.
    let objects: Vec<String> = bucket
        .list(Some(&object_store::path::Path::from("wh")))
        .map_ok(|o| o.location.to_string())
        .try_collect()
        .await
        .expect("list bucket");
    let data = objects.iter().filter(|o| o.ends_with(".parquet")).count();
    assert_eq!(data, 2, "{objects:?}");
    assert!(
        objects.iter().any(|o| o.ends_with(".metadata.json")),
        "{objects:?}"
    );
    assert!(objects.iter().any(|o| o.ends_with(".avro")), "{objects:?}");

    let totals = "SELECT count(*), sum(o_totalprice) FROM";
    assert_eq!(
        query_text(&admin, &format!("{totals} s3lake.sales.orders")).await,
        query_text(
            &admin,
            &format!("{totals} lake.tpch.orders WHERE o_orderkey < 40000")
        )
        .await
    );
    assert_eq!(
        query_text(
            &admin,
            &format!("{totals} s3lake.sales.orders FOR VERSION AS OF {first}")
        )
        .await,
        query_text(
            &admin,
            &format!("{totals} lake.tpch.orders WHERE o_orderkey < 20000")
        )
        .await
    );
    // Joined with the local lakehouse.
    assert_eq!(
        query_text(
            &admin,
            "SELECT count(*) FROM s3lake.sales.orders o \
             JOIN lake.tpch.customer c ON o.o_custkey = c.c_custkey"
        )
        .await,
        query_text(
            &admin,
            "SELECT count(*) FROM lake.tpch.orders WHERE o_orderkey < 40000"
        )
        .await
    );

    // Bytes read from the bucket are metered.
    admin
        .simple_query("SET gateway.show_cost = on")
        .await
        .expect("show cost");
    let figures = lakegate_tests::statement_figures(
        &admin,
        &mut notices,
        "SELECT sum(o_totalprice) FROM s3lake.sales.orders",
    )
    .await;
    assert!(figures["bytes_scanned"] > 0.0, "{figures:?}");
    assert_eq!(figures["files_scanned"], 2.0, "{figures:?}");
    admin
        .simple_query("SET gateway.show_cost = off")
        .await
        .expect("cost off");

    // Compaction on S3: two files become one, the same rows.
    admin
        .simple_query("CALL system.optimize('s3lake.sales.orders')")
        .await
        .expect("optimize on S3");
    let notice = tokio::time::timeout(std::time::Duration::from_secs(10), notices.recv())
        .await
        .expect("optimize notice")
        .expect("connection open");
    assert_eq!(notice_figures(&notice)["files_written"], 1.0, "{notice:?}");
    assert_eq!(
        query_text(&admin, "SELECT count(*) FROM s3lake.sales.\"orders$files\"").await,
        vec![vec![Some("1".into())]]
    );
    assert_eq!(
        query_text(&admin, &format!("{totals} s3lake.sales.orders")).await,
        query_text(
            &admin,
            &format!("{totals} lake.tpch.orders WHERE o_orderkey < 40000")
        )
        .await
    );
}

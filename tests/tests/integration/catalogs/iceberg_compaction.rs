//! `CALL system.optimize`: small Iceberg data files compacted into one per partition as
//! one `replace` snapshot, the same rows before and after, earlier snapshots still
//! readable, governed; and a compaction that loses a race with another writer fails
//! cleanly, leaving that writer's commit and no stray files. Over a lakehouse of its own.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use iceberg::spec::{
    Literal, NestedField, PartitionKey, PrimitiveType, Schema, Struct, Transform, Type,
    UnboundPartitionSpec,
};
use iceberg::{TableCreation, TableIdent};
use lakegate_catalog::seed::TableAppender;
use lakegate_catalog::{CatalogError, CatalogRegistry, WriteError};
use lakegate_tests::{TestGateway, notice_figures, query_text, seed_new_data_dir, test_config};
use tokio_postgres::error::SqlState;

fn data_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| seed_new_data_dir("lakegate-compact-"))
}

/// Another catalog client over the same lakehouse, as another writer would be.
async fn writer() -> CatalogRegistry {
    CatalogRegistry::open(&test_config(data_dir()).effective_catalogs())
        .await
        .expect("catalog client")
}

/// Sends `sql`, returns the figures of the NOTICE it raised.
async fn call(
    client: &tokio_postgres::Client,
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::error::DbError>,
    sql: &str,
) -> (String, std::collections::HashMap<String, f64>) {
    let notice = lakegate_tests::statement_notice(client, notices, sql).await;
    (notice.message().to_string(), notice_figures(&notice))
}

fn single(rows: Vec<Vec<Option<String>>>) -> String {
    rows[0][0].clone().expect("a value")
}

#[tokio::test]
async fn optimize_compacts_small_files_into_one_replace_snapshot() {
    let gw = TestGateway::start_with(test_config(data_dir())).await;
    let (admin, mut notices) = gw.connect_with_notices("admin", "admin").await;
    admin
        .simple_query(
            "CREATE TABLE lake.tpch.small_orders AS \
             SELECT o_orderkey, o_custkey, o_totalprice, o_orderdate FROM lake.tpch.orders \
             WHERE o_orderkey < 1000",
        )
        .await
        .expect("ctas");
    for n in 1..8 {
        admin
            .simple_query(&format!(
                "INSERT INTO lake.tpch.small_orders \
                 SELECT o_orderkey + {n} * 1000000, o_custkey, o_totalprice, o_orderdate \
                 FROM lake.tpch.orders WHERE o_orderkey < 1000"
            ))
            .await
            .expect("small insert");
    }
    let files = "SELECT count(*) FROM lake.tpch.\"small_orders$files\"";
    let totals = "SELECT count(*), sum(o_orderkey), sum(o_totalprice) FROM lake.tpch.small_orders";
    assert_eq!(single(query_text(&admin, files).await), "8");
    let before = query_text(&admin, totals).await;
    let last_before = single(
        query_text(
            &admin,
            "SELECT snapshot_id FROM lake.tpch.\"small_orders$snapshots\" \
             ORDER BY committed_at DESC LIMIT 1",
        )
        .await,
    );

    let (message, figures) = call(
        &admin,
        &mut notices,
        "CALL system.optimize('lake.tpch.small_orders')",
    )
    .await;
    assert!(message.contains("lake.tpch.small_orders"), "{message}");
    assert_eq!(figures["files_rewritten"], 8.0, "{figures:?}");
    assert_eq!(figures["files_written"], 1.0, "{figures:?}");
    assert!(
        figures["bytes_written"] < figures["bytes_rewritten"],
        "{figures:?}"
    );

    // The same rows, from one file, in a `replace` snapshot on top of the last one.
    assert_eq!(single(query_text(&admin, files).await), "1");
    assert_eq!(query_text(&admin, totals).await, before);
    assert_eq!(
        query_text(
            &admin,
            "SELECT operation, CAST(parent_id AS VARCHAR) FROM lake.tpch.\"small_orders$snapshots\" \
             ORDER BY committed_at DESC LIMIT 1"
        )
        .await,
        vec![vec![Some("replace".into()), Some(last_before.clone())]]
    );
    // The snapshot before it still reads its own eight files.
    assert_eq!(
        query_text(
            &admin,
            &format!(
                "SELECT count(*), sum(o_orderkey), sum(o_totalprice) \
                 FROM lake.tpch.small_orders FOR VERSION AS OF {last_before}"
            )
        )
        .await,
        before
    );
    // Appends after a compaction work as before.
    admin
        .simple_query(
            "INSERT INTO lake.tpch.small_orders VALUES (99000001, 1, 1.50, DATE '2026-11-27')",
        )
        .await
        .expect("insert after compaction");
    assert_eq!(single(query_text(&admin, files).await), "2");

    // Nothing small enough to merge: no new snapshot.
    let snapshots = "SELECT count(*) FROM lake.tpch.\"small_orders$snapshots\"";
    let count = single(query_text(&admin, snapshots).await);
    let (message, _) = call(
        &admin,
        &mut notices,
        "CALL system.optimize(table => 'lake.tpch.small_orders', target_file_size => '1kB')",
    )
    .await;
    assert!(message.contains("nothing to compact"), "{message}");
    assert_eq!(single(query_text(&admin, snapshots).await), count);

    // Errors name the problem; the demo reader may not compact.
    let demo = gw.connect().await;
    let cases = [
        (
            &demo,
            "CALL system.optimize('lake.tpch.small_orders')",
            SqlState::INSUFFICIENT_PRIVILEGE,
        ),
        (
            &admin,
            "CALL system.optimize('lake.tpch.nope')",
            SqlState::UNDEFINED_TABLE,
        ),
        (
            &admin,
            "CALL system.optimize('system.history.queries')",
            SqlState::FEATURE_NOT_SUPPORTED,
        ),
        (
            &admin,
            "CALL system.optimize('lake.tpch.small_orders', '12 parsecs')",
            SqlState::INVALID_PARAMETER_VALUE,
        ),
        (
            &admin,
            "CALL system.optimize()",
            SqlState::INVALID_PARAMETER_VALUE,
        ),
    ];
    for (client, sql, state) in cases {
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(err.code(), Some(&state), "{sql}: {:?}", err.as_db_error());
    }
}

/// `ns.regions (id bigint, region string)` partitioned by region, three small files per
/// region.
async fn partitioned_table(registry: &CatalogRegistry) -> TableIdent {
    let catalog = registry.get("lake").expect("lake").lake.iceberg();
    let ident = crate::catalogs::scratch::fresh_table(registry, "compaction", "regions").await;
    let namespace = ident.namespace().clone();
    let schema = Schema::builder()
        .with_fields(vec![
            Arc::new(NestedField::required(
                1,
                "id",
                Type::Primitive(PrimitiveType::Long),
            )),
            Arc::new(NestedField::required(
                2,
                "region",
                Type::Primitive(PrimitiveType::String),
            )),
        ])
        .build()
        .expect("schema");
    let spec = UnboundPartitionSpec::builder()
        .add_partition_field(2, "region", Transform::Identity)
        .expect("partition field")
        .build();
    catalog
        .create_table(
            &namespace,
            TableCreation::builder()
                .name("regions".into())
                .schema(schema)
                .partition_spec(spec)
                .build(),
        )
        .await
        .expect("create table");
    for round in 0..3i64 {
        for region in ["EU", "US"] {
            append_region(registry, region, round * 100..round * 100 + 50).await;
        }
    }
    ident
}

/// One data file of `ids` in partition `region`, one snapshot.
async fn append_region(registry: &CatalogRegistry, region: &str, ids: std::ops::Range<i64>) {
    let lake = &registry.get("lake").expect("lake").lake;
    let table = lake
        .load_table("compaction", "regions")
        .await
        .expect("load")
        .expect("exists");
    let metadata = table.metadata();
    let key = PartitionKey::new(
        metadata.default_partition_spec().as_ref().clone(),
        metadata.current_schema().clone(),
        Struct::from_iter([Some(Literal::string(region))]),
    );
    let mut appender = TableAppender::for_partition(&table, Some(key))
        .await
        .expect("appender");
    let rows = ids.clone().count();
    let batch = RecordBatch::try_new(
        appender.arrow_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(StringArray::from(vec![region; rows])),
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
async fn partitions_are_compacted_apart_and_a_lost_race_fails_cleanly() {
    let registry = writer().await;
    partitioned_table(&registry).await;
    let gw = TestGateway::start_with(test_config(data_dir())).await;
    let (admin, mut notices) = gw.connect_with_notices("admin", "admin").await;
    let by_region = "SELECT region, count(*), sum(id) FROM lake.compaction.regions \
                     GROUP BY region ORDER BY region";
    let partitions = "SELECT partition, file_count FROM lake.compaction.\"regions$partitions\" \
                      ORDER BY 1";
    let before = query_text(&admin, by_region).await;
    let (_, figures) = call(
        &admin,
        &mut notices,
        "CALL system.optimize('lake.compaction.regions')",
    )
    .await;
    assert_eq!(
        (figures["files_rewritten"], figures["files_written"]),
        (6.0, 2.0),
        "{figures:?}"
    );
    assert_eq!(query_text(&admin, by_region).await, before);
    let listed = query_text(&admin, partitions).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.iter().all(|row| row[1].as_deref() == Some("1")),
        "one file per partition: {listed:?}"
    );

    // A compaction planned on a table another writer then commits to loses the race:
    // the writer's rows stay, the compaction commits nothing and leaves no files.
    append_region(&registry, "EU", 1000..1010).await;
    append_region(&registry, "EU", 2000..2010).await;
    let lake = &registry.get("lake").expect("lake").lake;
    let stale = lake
        .load_table("compaction", "regions")
        .await
        .expect("load")
        .expect("exists");
    append_region(&registry, "US", 3000..3010).await;
    let data_files = |dir: &Path| -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| {
                        let path = e.path();
                        if path.is_dir() {
                            std::fs::read_dir(&path).map(|f| f.count()).unwrap_or(0)
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    };
    let location = stale
        .metadata()
        .location()
        .trim_start_matches("file://")
        .to_string();
    let data_dir = Path::new(&location).join("data");
    let files_before = data_files(&data_dir);
    let lost = lakegate_catalog::iceberg::compact(lake, &stale, None).await;
    match lost {
        Err(CatalogError::Write(WriteError::Conflict { .. })) => {}
        other => panic!("expected a commit conflict, got {other:?}"),
    }
    assert_eq!(data_files(&data_dir), files_before, "no stray data files");
    assert_eq!(
        query_text(
            &admin,
            "SELECT count(*) FROM lake.compaction.regions WHERE id >= 1000"
        )
        .await,
        vec![vec![Some("30".into())]]
    );
    // Run again on the current table, it succeeds.
    let (_, figures) = call(
        &admin,
        &mut notices,
        "CALL system.optimize('lake.compaction.regions')",
    )
    .await;
    // Every file of both partitions is still small: five files become two.
    assert_eq!(
        (figures["files_rewritten"], figures["files_written"]),
        (5.0, 2.0),
        "{figures:?}"
    );
    assert_eq!(
        query_text(&admin, "SELECT count(*) FROM lake.compaction.regions").await,
        vec![vec![Some("330".into())]]
    );

    // INSERT into the partitioned table: each row lands in its partition's file, a new
    // value makes a new partition, all in one snapshot.
    let snapshots = "SELECT count(*) FROM lake.compaction.\"regions$snapshots\"";
    let before = query_text(&admin, snapshots).await;
    let inserted = admin
        .execute(
            "INSERT INTO lake.compaction.regions VALUES (5000, 'EU'), (5001, 'ASIA'), \
             (5002, 'US'), (5003, 'ASIA')",
            &[],
        )
        .await
        .expect("insert into a partitioned table");
    assert_eq!(inserted, 4);
    let after: i64 = query_text(&admin, snapshots).await[0][0]
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("count");
    let before: i64 = before[0][0]
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("count");
    assert_eq!(after, before + 1, "one snapshot");
    let listed = query_text(
        &admin,
        "SELECT partition, record_count, file_count \
         FROM lake.compaction.\"regions$partitions\" ORDER BY record_count",
    )
    .await;
    let found: Vec<(bool, Option<String>, Option<String>)> = listed
        .iter()
        .zip(["ASIA", "US", "EU"])
        .map(|(row, region)| {
            (
                row[0].as_deref().is_some_and(|p| p.contains(region)),
                row[1].clone(),
                row[2].clone(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (true, Some("2".into()), Some("1".into())),
            (true, Some("161".into()), Some("2".into())),
            (true, Some("171".into()), Some("2".into())),
        ],
        "{listed:?}"
    );
    // Partition pruning sees the new files' partition values.
    assert_eq!(
        query_text(
            &admin,
            "EXPLAIN COST SELECT * FROM lake.compaction.regions WHERE region = 'ASIA'"
        )
        .await[0][1],
        Some("1".into())
    );
}

/// The (o_orderdate, o_orderkey) pairs of a data file of `orders`, in file order.
fn date_key_pairs(path: &str) -> Vec<(i32, i64)> {
    use datafusion::arrow::array::{Array, Date32Array};
    let path = path.strip_prefix("file://").unwrap_or(path);
    let file = std::fs::File::open(path).expect("data file");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut pairs = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let dates = batch
            .column_by_name("o_orderdate")
            .and_then(|c| c.as_any().downcast_ref::<Date32Array>())
            .expect("o_orderdate")
            .clone();
        let keys = batch
            .column_by_name("o_orderkey")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .expect("o_orderkey")
            .clone();
        pairs.extend((0..batch.num_rows()).map(|i| (dates.value(i), keys.value(i))));
    }
    pairs
}

#[tokio::test]
async fn optimize_writes_in_the_sort_order_the_table_declares() {
    let gw = TestGateway::start_with(test_config(data_dir())).await;
    let (admin, mut notices) = gw.connect_with_notices("admin", "admin").await;
    // The seeded orders declare the order (o_orderdate, o_orderkey); these appends come
    // newest first, as a late-arriving batch would.
    for n in 1..4 {
        admin
            .simple_query(&format!(
                "INSERT INTO lake.tpch.orders \
                 SELECT o_orderkey + {n} * 100000000, o_custkey, o_orderstatus, o_totalprice, \
                 o_orderdate, o_orderpriority, o_clerk, o_shippriority, o_comment \
                 FROM lake.tpch.orders WHERE o_orderkey < 3000 ORDER BY o_orderdate DESC"
            ))
            .await
            .expect("append out of order");
    }
    let totals = "SELECT count(*), sum(o_orderkey), sum(o_totalprice) FROM lake.tpch.orders";
    let before = query_text(&admin, totals).await;
    let (_, figures) = call(
        &admin,
        &mut notices,
        "CALL system.optimize('lake.tpch.orders')",
    )
    .await;
    assert!(figures["files_rewritten"] >= 4.0, "{figures:?}");
    assert_eq!(query_text(&admin, totals).await, before);
    let paths = query_text(
        &admin,
        "SELECT file_path FROM lake.tpch.\"orders$files\" ORDER BY file_path",
    )
    .await;
    let mut rows = 0;
    for path in paths {
        let pairs = date_key_pairs(path[0].as_deref().expect("a path"));
        rows += pairs.len();
        assert!(
            pairs.windows(2).all(|w| w[0] <= w[1]),
            "a compacted file out of (o_orderdate, o_orderkey) order"
        );
    }
    assert_eq!(before[0][0].as_deref(), Some(rows.to_string().as_str()));
}

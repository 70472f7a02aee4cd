//! Every query is metered where the bytes are read: figures checked against the Parquet
//! files themselves, pruning visible in them, and the cost notice a client receives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lakegate_tests::{TestGateway, notice_figures, seeded_data_dir, test_config};
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::catalogs::scratch::{append_events, create_events, other_writer};

/// Runs `sql` with the cost notice on and returns the notice's figures.
async fn metered(
    client: &tokio_postgres::Client,
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::error::DbError>,
    sql: &str,
) -> HashMap<String, f64> {
    let notice = lakegate_tests::statement_notice(client, notices, sql).await;
    assert!(
        notice.message().starts_with("query cost "),
        "{}",
        notice.message()
    );
    notice_figures(&notice)
}

/// The demo user's connection with `gateway.show_cost` on, and its notices.
pub(super) async fn with_cost_notices(
    gw: &TestGateway,
) -> (
    tokio_postgres::Client,
    tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::error::DbError>,
) {
    let (client, notices) = gw.connect_with_notices("demo", "demo").await;
    client
        .simple_query("SET gateway.show_cost = on")
        .await
        .expect("set");
    (client, notices)
}

/// The Parquet data files under a table's directory, with the compressed size of the
/// named columns' chunks and the file sizes.
fn parquet_sizes(table_dir: &Path, columns: &[&str]) -> (Vec<PathBuf>, u64, u64) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(table_dir.join("data"))
        .expect("data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let (mut chunks, mut sizes) = (0, 0);
    for file in &files {
        sizes += std::fs::metadata(file).expect("size").len();
        let reader =
            SerializedFileReader::new(std::fs::File::open(file).expect("open")).expect("parquet");
        for row_group in reader.metadata().row_groups() {
            for column in row_group.columns() {
                if columns.contains(&column.column_path().string().as_str()) {
                    chunks += column.compressed_size() as u64;
                }
            }
        }
    }
    (files, chunks, sizes)
}

#[tokio::test]
async fn a_full_scan_reads_its_column_chunks_and_no_more_than_its_files() {
    let gw = TestGateway::start().await;
    let (client, mut notices) = gw.connect_with_notices("demo", "demo").await;
    let lineitem_rows: i64 = client
        .query_one("SELECT count(*) FROM lake.tpch.lineitem", &[])
        .await
        .expect("count")
        .get(0);
    client
        .simple_query("SET gateway.show_cost = on")
        .await
        .expect("set");
    let figures = metered(
        &client,
        &mut notices,
        "SELECT sum(l_quantity), count(l_shipdate) FROM lake.tpch.lineitem",
    )
    .await;
    let table_dir = seeded_data_dir().join("warehouse/tpch/lineitem");
    let (files, chunks, sizes) = parquet_sizes(&table_dir, &["l_quantity", "l_shipdate"]);
    let scanned = figures["bytes_scanned"] as u64;
    assert!(
        chunks <= scanned && scanned <= sizes,
        "read {scanned} bytes; the two columns' chunks hold {chunks}, the files {sizes}"
    );
    assert_eq!(figures["files_scanned"] as usize, files.len());
    assert_eq!(figures["rows_scanned"] as i64, lineitem_rows);
    assert_eq!(figures["rows_returned"], 1.0);
    assert!(
        figures["metadata_bytes"] > 0.0,
        "manifests are read: {figures:?}"
    );
    // The manifests the second run plans over are parsed ones kept in memory: they
    // are metered alike. (Its data bytes are fewer: footers come from their cache.)
    let again = metered(
        &client,
        &mut notices,
        "SELECT sum(l_quantity), count(l_shipdate) FROM lake.tpch.lineitem",
    )
    .await;
    assert_eq!(again["metadata_bytes"], figures["metadata_bytes"]);
    assert!(again["bytes_scanned"] <= figures["bytes_scanned"]);
    assert!(
        figures["cpu_ms"] > 0.0 && figures["wall_ms"] > 0.0,
        "{figures:?}"
    );
    // The default price list: $5 per TB scanned and $0.05 per CPU-hour.
    let expected = (figures["bytes_scanned"] + figures["metadata_bytes"]) / 1e12 * 5.0
        + figures["cpu_ms"] / 3.6e6 * 0.05;
    assert!((figures["cost"] - expected).abs() < 1e-9, "{figures:?}");

    // A wider projection reads more of the same file.
    let wide = metered(&client, &mut notices, "SELECT * FROM lake.tpch.lineitem").await;
    assert!(wide["bytes_scanned"] > figures["bytes_scanned"], "{wide:?}");
    assert_eq!(wide["rows_returned"] as i64, lineitem_rows);
    assert!(wide["bytes_returned"] > 0.0);

    // A join holds a hash table: memory is reserved and released.
    let join = metered(
        &client,
        &mut notices,
        "SELECT o_orderpriority, count(*) FROM lake.tpch.lineitem \
         JOIN lake.tpch.orders ON l_orderkey = o_orderkey GROUP BY 1",
    )
    .await;
    assert!(join["peak_memory_bytes"] > 0.0, "{join:?}");
    assert_eq!(join["files_scanned"] as usize, files.len() + 1);

    // Statements that read no table read nothing.
    let constant = metered(&client, &mut notices, "SELECT 1").await;
    assert_eq!(constant["bytes_scanned"], 0.0);
    assert_eq!(constant["files_scanned"], 0.0);

    // Without the setting, no notice.
    client
        .simple_query("RESET gateway.show_cost")
        .await
        .expect("reset");
    client.simple_query("SELECT 1").await.expect("select");
    assert!(notices.try_recv().is_err());
}

/// Creates `metering.events` in the shared lakehouse with one data file per range.
async fn events_table(ranges: &[std::ops::Range<i64>]) -> PathBuf {
    let writer = other_writer().await;
    let location = create_events(&writer, "metering").await;
    for range in ranges {
        append_events(&writer, "metering", range.clone()).await;
    }
    PathBuf::from(location.trim_start_matches("file://"))
}

#[tokio::test]
async fn a_selective_filter_reads_measurably_less() {
    let ranges = [0..20_000, 20_000..40_000, 40_000..60_000, 60_000..80_000];
    let table_dir = events_table(&ranges).await;
    let gw = TestGateway::start().await;
    let (client, mut notices) = with_cost_notices(&gw).await;
    let full = metered(
        &client,
        &mut notices,
        "SELECT sum(id), count(name) FROM lake.metering.events",
    )
    .await;
    let (files, chunks, sizes) = parquet_sizes(&table_dir, &["id", "name"]);
    assert_eq!(files.len(), 4);
    assert_eq!(full["files_scanned"], 4.0);
    assert_eq!(full["files_pruned"], 0.0);
    assert_eq!(full["rows_scanned"], 80_000.0);
    let scanned = full["bytes_scanned"] as u64;
    assert!(
        chunks <= scanned && scanned <= sizes,
        "{scanned} not in {chunks}..={sizes}"
    );

    // Iceberg's column bounds in the manifests leave three files unopened.
    let selective = metered(
        &client,
        &mut notices,
        "SELECT sum(id), count(name) FROM lake.metering.events WHERE id < 100",
    )
    .await;
    assert_eq!(selective["files_scanned"], 1.0, "{selective:?}");
    assert_eq!(selective["files_pruned"], 3.0, "{selective:?}");
    assert!(
        selective["bytes_scanned"] * 3.0 < full["bytes_scanned"],
        "selective {selective:?} vs full {full:?}"
    );
    assert!(selective["rows_scanned"] <= 20_000.0);

    // The estimate sees the same pruning before anything runs.
    let estimate = estimate_rows(
        &client,
        "EXPLAIN COST SELECT sum(id), count(name) FROM lake.metering.events WHERE id < 100",
    )
    .await;
    assert_eq!(estimate[0].0, "metering.events");
    assert_eq!((estimate[0].1, estimate[0].2), (1, 3), "{estimate:?}");
    let estimate = estimate_rows(
        &client,
        "EXPLAIN COST SELECT sum(id), count(name) FROM lake.metering.events",
    )
    .await;
    assert_eq!((estimate[0].1, estimate[0].2), (4, 0), "{estimate:?}");
    // Files this small are read whole, and so estimated.
    assert_eq!(estimate[0].3 as u64, sizes, "{estimate:?}");
}

#[tokio::test]
async fn row_groups_ruled_out_by_their_statistics_are_counted_as_pruned() {
    // One file of three row groups (the writer closes a group every 128 Ki rows).
    let writer = other_writer().await;
    let location = create_events(&writer, "rowgroups").await;
    append_events(&writer, "rowgroups", 0..300_000).await;
    let table_dir = PathBuf::from(location.trim_start_matches("file://"));
    let (files, _, _) = parquet_sizes(&table_dir, &[]);
    let reader =
        SerializedFileReader::new(std::fs::File::open(&files[0]).expect("open")).expect("parquet");
    assert_eq!(reader.metadata().num_row_groups(), 3);

    let gw = TestGateway::start().await;
    let (client, mut notices) = with_cost_notices(&gw).await;
    let full = metered(
        &client,
        &mut notices,
        "SELECT sum(id), count(name) FROM lake.rowgroups.events",
    )
    .await;
    assert_eq!(
        (full["row_groups_scanned"], full["row_groups_pruned"]),
        (3.0, 0.0),
        "{full:?}"
    );
    // The first row group's statistics hold ids below 100; the others' are ruled out.
    let selective = metered(
        &client,
        &mut notices,
        "SELECT sum(id), count(name) FROM lake.rowgroups.events WHERE id < 100",
    )
    .await;
    assert_eq!(
        (
            selective["row_groups_scanned"],
            selective["row_groups_pruned"]
        ),
        (1.0, 2.0),
        "{selective:?}"
    );
    assert_eq!(selective["files_scanned"], 1.0);
    assert!(
        selective["bytes_scanned"] * 2.0 < full["bytes_scanned"],
        "selective {selective:?} vs full {full:?}"
    );
}

/// The rows of an EXPLAIN COST: table, files, files pruned, bytes, rows.
async fn estimate_rows(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Vec<(String, i64, i64, i64, i64)> {
    client
        .query(sql, &[])
        .await
        .expect(sql)
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

/// The audit record of the statement whose text contains `marker`. A refused
/// statement's record is handed to the writer as its error is sent, and the writer
/// syncs each batch to disk: wait for it a while.
fn audit_record(marker: &str) -> serde_json::Value {
    // Each test gateway has its own trail in the shared data directory.
    let dir = seeded_data_dir().join("audit");
    for _ in 0..100 {
        for entry in std::fs::read_dir(&dir).expect("audit dir").flatten() {
            if entry.path().extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if let Some(line) = text.lines().rev().find(|l| l.contains(marker)) {
                return serde_json::from_str(line).expect("audit JSON");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no audit record for {marker}")
}

#[tokio::test]
async fn estimates_come_before_execution_and_limits_refuse_queries() {
    let mut config = test_config(seeded_data_dir());
    config.finops.limits = vec![lakegate_planner::QueryLimit {
        subject: "role:analyst".into(),
        max_scan_bytes: Some(100_000),
        ..lakegate_planner::QueryLimit::default()
    }];
    let gw = TestGateway::start_with(config).await;
    let (client, mut notices) = gw.connect_with_notices("demo", "demo").await;

    // EXPLAIN COST: one row per scan and the total, from the manifests.
    let sql = "SELECT sum(l_quantity) FROM lake.tpch.lineitem";
    let estimate = estimate_rows(&client, &format!("EXPLAIN COST {sql}")).await;
    assert_eq!(estimate.len(), 2, "{estimate:?}");
    assert_eq!(estimate[0].0, "tpch.lineitem");
    assert_eq!(estimate[1].0, "(total)");
    assert_eq!(estimate[0].4, 60_175);
    client
        .simple_query("SET gateway.show_cost = on")
        .await
        .expect("set");
    let actual = metered(&client, &mut notices, sql).await;
    let (estimated, read) = (estimate[0].3 as f64, actual["bytes_scanned"]);
    assert!(
        (estimated - read).abs() / read < 0.25,
        "estimated {estimated} bytes, read {read}"
    );
    client
        .simple_query("RESET gateway.show_cost")
        .await
        .expect("reset");

    // A dry run answers every query with its estimate, described as such.
    client
        .simple_query("SET gateway.dry_run = on")
        .await
        .expect("dry run");
    let rows = client
        .query(
            "SELECT * FROM lake.tpch.nation WHERE n_nationkey > $1",
            &[&0i64],
        )
        .await
        .expect("dry run query");
    assert_eq!(rows[0].columns()[0].name(), "table_name");
    assert_eq!(rows[0].get::<_, String>(0), "tpch.nation");
    client
        .simple_query("RESET gateway.dry_run")
        .await
        .expect("reset");
    let rows = client
        .query(
            "SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = $1",
            &[&0i64],
        )
        .await
        .expect("query");
    assert_eq!(rows[0].get::<_, String>(0), "ALGERIA");

    // Over the analyst's limit: refused with 53400 before any data file is opened.
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let marker = format!("limit-{}", std::process::id());
    let error = analyst
        .simple_query(&format!(
            "SELECT max(l_comment) /* {marker} */ FROM lake.tpch.lineitem"
        ))
        .await
        .expect_err("over the limit");
    let db = error.as_db_error().expect("server error");
    assert_eq!(db.code().code(), "53400");
    assert!(
        db.message().contains("estimated")
            && db
                .message()
                .contains("100000 bytes per query for role:analyst"),
        "{}",
        db.message()
    );
    let record = audit_record(&marker);
    assert_eq!(record["decision"], "error");
    assert_eq!(record["cost"]["files_scanned"], 0, "{record}");
    assert_eq!(record["cost"]["bytes_scanned"], 0, "{record}");
    assert!(
        record["cost"]["metadata_bytes"].as_u64() > Some(0),
        "{record}"
    );
    // Under it (nation is a few kilobytes), and the connection is fine.
    let row = analyst
        .query_one("SELECT count(*) FROM lake.tpch.nation", &[])
        .await
        .expect("small query");
    assert!(row.get::<_, i64>(0) > 0);
}

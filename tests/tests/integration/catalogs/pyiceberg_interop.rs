//! Iceberg tables across engines. PyIceberg (pinned in tests/clients/requirements.txt)
//! writes tables into the gateway's embedded catalog — identity and day partitions,
//! added, renamed and dropped columns, copy-on-write deletes, and merge-on-read position
//! and equality delete files — and the gateway reads them with both readers (DataFusion's
//! Parquet scan, Iceberg's reader) with PyIceberg's answers (the live rows where
//! PyIceberg cannot read equality deletes); then PyIceberg reads what the gateway wrote
//! (CREATE TABLE AS, INSERT into its own table and into PyIceberg's, compaction) with the
//! gateway's answers.

use std::collections::BTreeMap;
use std::path::Path;

use lakegate_tests::{TestGateway, seed_new_data_dir, test_config, text_rows};
use tokio::process::Command;

type Rows = Vec<Vec<Option<String>>>;

/// The Python with PyIceberg: `LAKEGATE_PYTHON`, else `python3`.
async fn python() -> Option<String> {
    lakegate_tests::clients::python_with("pyiceberg, pyiceberg_core").await
}

/// Runs tests/clients/pyiceberg_interop.py; its JSON answer, name → sorted rows.
async fn pyiceberg(python: &str, args: &[&str]) -> BTreeMap<String, Rows> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/pyiceberg_interop.py");
    let output = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("python runs");
    assert!(
        output.status.success(),
        "pyiceberg_interop.py {args:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: BTreeMap<String, Rows> =
        serde_json::from_slice(&output.stdout).expect("JSON answers");
    answers
        .into_iter()
        .map(|(name, mut rows)| {
            rows.sort();
            (name, rows)
        })
        .collect()
}

async fn sorted_rows(client: &tokio_postgres::Client, sql: &str) -> Rows {
    let mut rows = text_rows(
        &client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
    );
    rows.sort();
    rows
}

#[tokio::test]
async fn pyiceberg_and_the_gateway_read_each_others_tables() {
    let Some(python) = python().await else {
        lakegate_tests::clients::missing(
            "Python with pyiceberg[sql-sqlite,pyarrow,pyiceberg-core]",
        );
        return;
    };
    let dir = seed_new_data_dir("lakegate-pyiceberg-");
    let warehouse = dir.join("warehouse");
    let warehouse = warehouse.to_str().expect("a UTF-8 path");

    let written = pyiceberg(&python, &["write", warehouse]).await;
    assert_eq!(written.len(), 9);
    for native in [true, false] {
        let mut config = test_config(&dir);
        config.query.native_iceberg_scan = native;
        let gw = TestGateway::start_with(config).await;
        let client = gw.connect().await;
        for (sql, expected) in &written {
            assert!(!expected.is_empty(), "{sql}: PyIceberg read no rows");
            assert_eq!(
                &sorted_rows(&client, sql).await,
                expected,
                "{sql} (native scan: {native})"
            );
        }
    }

    let gw = TestGateway::start_with(test_config(&dir)).await;
    let client = gw.connect_as("admin", "admin").await.expect("admin");
    // Compaction does not apply delete files, so it refuses a table that has them.
    let refused = client
        .simple_query("CALL system.optimize('lake.interop.merged')")
        .await
        .expect_err("a table with delete files is not compacted");
    let refused = refused.as_db_error().expect("an error response");
    assert_eq!(refused.code().code(), "0A000", "{}", refused.message());
    assert!(
        refused.message().contains("delete files"),
        "{}",
        refused.message()
    );
    for statement in [
        "CREATE TABLE lake.interop.from_gateway AS \
         SELECT n_nationkey AS id, n_name AS name, n_regionkey AS region FROM lake.tpch.nation",
        "INSERT INTO lake.interop.from_gateway VALUES (100, 'ATLANTIS', 9)",
        "INSERT INTO lake.interop.from_gateway \
         SELECT id + 1000, name, region FROM lake.interop.from_gateway WHERE id < 5",
        "CALL system.optimize('lake.interop.from_gateway')",
        "INSERT INTO lake.interop.plain VALUES (1000, 'from the gateway')",
    ] {
        client
            .simple_query(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {:?}", e.as_db_error()));
    }
    let read = pyiceberg(
        &python,
        &["read", warehouse, "interop.from_gateway", "interop.plain"],
    )
    .await;
    let ours = sorted_rows(&client, "SELECT * FROM lake.interop.from_gateway").await;
    assert_eq!(ours.len(), 25 + 1 + 5);
    assert_eq!(read["interop.from_gateway"], ours);
    let ours = sorted_rows(&client, "SELECT * FROM lake.interop.plain").await;
    assert_eq!(ours.len(), 51);
    assert_eq!(read["interop.plain"], ours);
}

//! Smoke test with the real psql client (CI installs postgresql-client).

use lakegate_tests::{PASSWORD, SCALE_FACTOR, TestGateway, USER};

#[tokio::test]
async fn psql_counts_lineitem_and_runs_a_tpch_query() {
    let gw = TestGateway::start().await;
    let run = |sql: &'static str| gw.psql(USER, PASSWORD, sql);
    let out = run("SELECT count(*) FROM lake.tpch.orders").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number");
    assert_eq!(count, (SCALE_FACTOR * 1_500_000.0) as i64);

    let out = run("SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = 7").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "GERMANY");

    let out = run("SELECT * FROM lake.tpch.nope").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

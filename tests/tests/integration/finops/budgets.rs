//! Cost budgets: a hard budget refuses queries once spent (and after a restart), a soft
//! one warns with a NOTICE. Prices are set to one unit per byte scanned and nothing
//! for CPU, so that costs are exact.

use lakegate_planner::{Budget, BudgetMode, BudgetPeriod, PriceList};
use lakegate_tests::{TestGateway, seeded_data_dir, test_config};

#[tokio::test]
async fn hard_budgets_refuse_soft_budgets_warn_and_both_survive_a_restart() {
    let dir = tempfile::tempdir().expect("history dir");
    let mut config = test_config(seeded_data_dir());
    config.finops.history.dir = Some(dir.path().display().to_string());
    config.finops.prices = PriceList {
        unit: "bytes".into(),
        per_tb_scanned: 1e12,
        per_cpu_hour: 0.0,
    };
    config.finops.budgets = vec![
        // nation's one data file is 3.4 kB: the first query fits, and with the
        // manifests it reads, spends the budget.
        Budget {
            subject: "role:analyst".into(),
            period: BudgetPeriod::Day,
            limit: 3500.0,
            mode: BudgetMode::Hard,
        },
        Budget {
            subject: "demo".into(),
            period: BudgetPeriod::Month,
            limit: 1.0,
            mode: BudgetMode::Soft,
        },
    ];
    let sql = "SELECT count(*) FROM lake.tpch.nation";

    let gw = TestGateway::start_with(config.clone()).await;
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    analyst.simple_query(sql).await.expect("within the budget");
    let error = analyst.simple_query(sql).await.expect_err("budget spent");
    let db = error.as_db_error().expect("server error");
    assert_eq!(db.code().code(), "53400");
    assert!(
        db.message()
            .starts_with("daily budget of 3500 bytes for role:analyst is spent"),
        "{}",
        db.message()
    );

    // The soft budget warns after the query that overran it, and the query runs.
    let (demo, mut notices) = gw.connect_with_notices("demo", "demo").await;
    let rows = demo.simple_query(sql).await.expect("soft budget runs");
    assert!(!rows.is_empty());
    let notice = notices.recv().await.expect("budget notice");
    assert!(
        notice
            .message()
            .starts_with("monthly budget of 1 bytes for demo is exceeded"),
        "{}",
        notice.message()
    );
    drop((analyst, demo));
    gw.gateway.shutdown().await;

    // Consumption is rebuilt from the history.
    let gw = TestGateway::start_with(config).await;
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let error = analyst
        .simple_query(sql)
        .await
        .expect_err("still spent after the restart");
    assert_eq!(error.code().map(|c| c.code()), Some("53400"));
    // Other users are not affected.
    let demo = gw.connect().await;
    demo.simple_query(sql).await.expect("demo runs");
}

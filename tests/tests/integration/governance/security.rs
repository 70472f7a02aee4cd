//! Adversarial governance suite over Postgres wire: every attempt to get around grants,
//! row filters and column rules must fail, and each case asserts the exact rows the
//! analyst (region EUROPE, phones masked, account balances denied) may see.
//!
//! The expected values come from the admin (who sees everything) applying the policy's
//! filter by hand, so the suite does not depend on generated data.

use lakegate_tests::{TestGateway, query_text as rows};
use tokio_postgres::Client;

/// The nations of EUROPE, as the demo policy's customer and supplier filters name them.
const EUROPE: &str = "(6, 7, 19, 22, 23)";

async fn users(gw: &TestGateway) -> (Client, Client) {
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    (admin, analyst)
}

async fn scalar(client: &Client, sql: &str) -> String {
    rows(client, sql).await[0][0].clone().unwrap_or_default()
}

async fn code(client: &Client, sql: &str) -> String {
    match client.simple_query(sql).await {
        Ok(_) => "ok".into(),
        Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_default(),
    }
}

/// What the analyst's customer filter lets through, counted by the admin.
async fn europe_customers(admin: &Client) -> String {
    scalar(
        admin,
        &format!("SELECT count(*) FROM lake.tpch.customer WHERE c_nationkey IN {EUROPE}"),
    )
    .await
}

#[tokio::test]
async fn row_filters_hold_under_every_name_form() {
    let gw = TestGateway::start().await;
    let (admin, analyst) = users(&gw).await;
    let expected = europe_customers(&admin).await;
    let total = scalar(&admin, "SELECT count(*) FROM lake.tpch.customer").await;
    assert_ne!(expected, total, "the filter must hide rows");
    for sql in [
        "SELECT count(*) FROM customer",
        "SELECT count(*) FROM tpch.customer",
        "SELECT count(*) FROM lake.tpch.customer",
        "SELECT count(*) FROM lake.tpch.customer AS c",
        "SELECT count(*) FROM \"customer\"",
        "SELECT count(*) FROM CUSTOMER",
        "SELECT count(*) FROM Lake.TPCH.Customer x",
        "SELECT count(1) FROM customer",
        "SELECT count(c_custkey) FROM customer",
        "SELECT sum(1) FROM customer",
    ] {
        assert_eq!(scalar(&analyst, sql).await, expected, "{sql}");
    }
    // Quoted upper case is another (missing) name, not a way around.
    assert_eq!(
        code(&analyst, "SELECT count(*) FROM \"CUSTOMER\"").await,
        "42P01"
    );
    // search_path tricks resolve to the same table.
    analyst
        .batch_execute("SET search_path = 'lake.tpch'")
        .await
        .expect("search_path");
    assert_eq!(
        scalar(&analyst, "SELECT count(*) FROM customer").await,
        expected
    );
    analyst
        .batch_execute("SET search_path = information_schema, tpch")
        .await
        .expect("search_path");
    assert_eq!(
        scalar(&analyst, "SELECT count(*) FROM customer").await,
        expected
    );
}

#[tokio::test]
async fn subqueries_ctes_set_operations_and_joins_see_filtered_rows() {
    let gw = TestGateway::start().await;
    let (admin, analyst) = users(&gw).await;
    let expected = europe_customers(&admin).await;
    let n: i64 = expected.parse().expect("number");
    let cases = [
        ("SELECT (SELECT count(*) FROM customer)", n),
        ("SELECT count(*) FROM (SELECT * FROM customer) t", n),
        (
            "SELECT count(*) FROM customer WHERE c_custkey IN (SELECT c_custkey FROM lake.tpch.customer)",
            n,
        ),
        (
            "SELECT count(*) FROM orders o WHERE EXISTS (SELECT 1 FROM customer c WHERE c.c_custkey = o.o_custkey) AND o.o_custkey < 0",
            0,
        ),
        (
            "WITH c AS (SELECT * FROM customer) SELECT count(*) FROM c",
            n,
        ),
        (
            "WITH RECURSIVE r AS (SELECT c_custkey FROM customer UNION ALL SELECT c_custkey FROM r WHERE false) SELECT count(*) FROM r",
            n,
        ),
        (
            "SELECT count(*) FROM (SELECT c_custkey FROM customer UNION ALL SELECT c_custkey FROM customer) u",
            2 * n,
        ),
        (
            "SELECT count(*) FROM (SELECT c_custkey FROM customer UNION SELECT c_custkey FROM customer) u",
            n,
        ),
        (
            "SELECT count(*) FROM (SELECT c_custkey FROM customer INTERSECT SELECT c_custkey FROM lake.tpch.customer) u",
            n,
        ),
        (
            "SELECT count(*) FROM (SELECT c_custkey FROM customer EXCEPT SELECT c_custkey FROM customer WHERE c_custkey < 0) u",
            n,
        ),
        (
            "SELECT count(*) FROM customer a JOIN customer b ON a.c_custkey = b.c_custkey",
            n,
        ),
        (
            "SELECT count(*) FROM customer a, lake.tpch.customer b WHERE a.c_custkey = b.c_custkey",
            n,
        ),
        (
            "SELECT count(*) FROM customer c LEFT JOIN nation n ON c.c_nationkey = n.n_nationkey",
            n,
        ),
        (
            "SELECT count(*) FROM nation n RIGHT JOIN customer c ON c.c_nationkey = n.n_nationkey WHERE n.n_name IS NULL",
            0,
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(scalar(&analyst, sql).await, want.to_string(), "{sql}");
    }
    // Nations outside EUROPE never appear, however they are reached.
    let nations = rows(
        &analyst,
        "SELECT DISTINCT c_nationkey FROM customer UNION SELECT n_nationkey FROM nation ORDER BY 1",
    )
    .await;
    let keys: Vec<String> = nations.into_iter().filter_map(|r| r[0].clone()).collect();
    assert_eq!(keys, vec!["6", "7", "19", "22", "23"]);
    assert_eq!(
        rows(&analyst, "SELECT r_name FROM region").await,
        vec![vec![Some("EUROPE".to_string())]]
    );
}

#[tokio::test]
async fn masks_apply_before_user_expressions() {
    let gw = TestGateway::start().await;
    let (admin, analyst) = users(&gw).await;
    let phone = scalar(&admin, &format!(
        "SELECT c_phone FROM lake.tpch.customer WHERE c_nationkey IN {EUROPE} ORDER BY c_custkey LIMIT 1"
    ))
    .await;
    let masked = scalar(
        &analyst,
        "SELECT c_phone FROM customer ORDER BY c_custkey LIMIT 1",
    )
    .await;
    assert_eq!(masked.len(), phone.len(), "mask keeps the length");
    assert_eq!(&masked[masked.len() - 4..], &phone[phone.len() - 4..]);
    assert!(
        masked[..masked.len() - 4].chars().all(|c| c == 'X'),
        "{masked}"
    );
    // Predicates, windows, aggregates and casts see the mask, never the data.
    let prefix = &phone[..3];
    for sql in [
        format!("SELECT count(*) FROM customer WHERE c_phone LIKE '{prefix}%'"),
        format!("SELECT count(*) FROM customer WHERE c_phone = '{phone}'"),
        format!("SELECT count(*) FROM customer WHERE substr(c_phone, 1, 3) = '{prefix}'"),
    ] {
        assert_eq!(scalar(&analyst, &sql).await, "0", "{sql}");
    }
    let windowed = rows(
        &analyst,
        "SELECT max(c_phone) OVER (), min(c_phone) OVER (PARTITION BY c_nationkey) FROM customer LIMIT 3",
    )
    .await;
    for row in windowed {
        for value in row.into_iter().flatten() {
            assert!(value.starts_with("XXXX"), "{value}");
        }
    }
    let aggregated = scalar(&analyst, "SELECT max(c_phone) FROM customer").await;
    assert!(aggregated.starts_with("XXXX"), "{aggregated}");
    // Masked columns keep their name and type.
    let described = analyst
        .prepare("SELECT c_phone FROM customer")
        .await
        .expect("describe");
    assert_eq!(described.columns()[0].name(), "c_phone");
    assert_eq!(
        described.columns()[0].type_(),
        &tokio_postgres::types::Type::TEXT
    );
    // An error message shows the mask, not the value.
    let err = analyst
        .simple_query("SELECT CAST(c_phone AS INT) FROM customer")
        .await
        .expect_err("cast fails");
    let message = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(!message.contains(&phone), "{message}");
}

#[tokio::test]
async fn denied_columns_and_tables() {
    let gw = TestGateway::start().await;
    let (_admin, analyst) = users(&gw).await;
    // Hidden from SELECT * and from information_schema.
    let star = analyst
        .prepare("SELECT * FROM customer")
        .await
        .expect("star");
    let names: Vec<&str> = star.columns().iter().map(|c| c.name()).collect();
    assert!(!names.contains(&"c_acctbal"), "{names:?}");
    assert_eq!(names.len(), 7);
    let listed = rows(
        &analyst,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'customer'",
    )
    .await;
    assert!(listed.iter().all(|r| r[0].as_deref() != Some("c_acctbal")));
    // Named explicitly, in any position: 42501.
    for sql in [
        "SELECT c_acctbal FROM customer",
        "SELECT count(*) FROM customer WHERE c_acctbal > 0",
        "SELECT c.c_acctbal FROM lake.tpch.customer c",
        "SELECT (SELECT max(c_acctbal) FROM customer)",
        "SELECT c_custkey FROM customer ORDER BY c_acctbal",
    ] {
        assert_eq!(code(&analyst, sql).await, "42501", "{sql}");
    }
    // The auditor may not read TPC-H at all, in any form, and does not see it listed.
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    for sql in [
        "SELECT count(*) FROM lake.tpch.orders",
        "SELECT * FROM lake.tpch.nation LIMIT 1",
        "WITH x AS (SELECT 1 FROM lake.tpch.region) SELECT count(*) FROM x",
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM lake.tpch.region)",
        "EXPLAIN SELECT * FROM lake.tpch.region",
    ] {
        assert_eq!(code(&auditor, sql).await, "42501", "{sql}");
    }
    let tables = rows(
        &auditor,
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'lake' \
         AND table_schema NOT IN ('information_schema', 'pg_catalog')",
    )
    .await;
    assert!(tables.is_empty(), "{tables:?}");
    // Prepared statements are refused at Parse, before any description.
    let err = auditor
        .prepare("SELECT * FROM lake.tpch.orders")
        .await
        .expect_err("denied");
    assert_eq!(err.code().map(|c| c.code()), Some("42501"));
}

#[tokio::test]
async fn prepared_statements_explain_and_error_oracles() {
    let gw = TestGateway::start().await;
    let (admin, analyst) = users(&gw).await;
    let statement = analyst
        .prepare("SELECT count(*) FROM customer WHERE c_nationkey = $1")
        .await
        .expect("prepare");
    let outside: i64 = analyst
        .query_one(&statement, &[&1i64])
        .await
        .expect("run")
        .get(0);
    assert_eq!(outside, 0, "ARGENTINA is outside EUROPE");
    let inside: i64 = analyst
        .query_one(&statement, &[&7i64])
        .await
        .expect("run")
        .get(0);
    let truth: i64 = admin
        .query_one(
            "SELECT count(*) FROM lake.tpch.customer WHERE c_nationkey = 7",
            &[],
        )
        .await
        .expect("admin")
        .get(0);
    assert_eq!(inside, truth);

    // EXPLAIN shows the policy, never data.
    let phone = scalar(
        &admin,
        "SELECT c_phone FROM lake.tpch.customer ORDER BY c_custkey LIMIT 1",
    )
    .await;
    for sql in [
        "EXPLAIN SELECT * FROM customer",
        "EXPLAIN ANALYZE SELECT * FROM customer",
    ] {
        let text = lakegate_tests::query_joined(&analyst, sql).await;
        assert!(text.contains("PolicyBarrier"), "{sql}: {text}");
        assert!(!text.contains(&phone), "{sql} leaks a phone");
    }

    // An expression that fails on some values must not reveal hidden rows: it runs
    // only on rows the policy lets through.
    let hidden = "SELECT count(*) FROM nation WHERE CASE WHEN n_name = 'ALGERIA' THEN 1 / (n_regionkey - n_regionkey) ELSE 0 END = 0";
    assert_eq!(scalar(&analyst, hidden).await, "5");
    let visible = "SELECT count(*) FROM nation WHERE CASE WHEN n_name = 'FRANCE' THEN 1 / (n_regionkey - n_regionkey) ELSE 0 END = 0";
    assert_eq!(code(&analyst, visible).await, "22012");
    let customers = "SELECT count(*) FROM customer WHERE CASE WHEN c_nationkey = 1 THEN 1 / (c_nationkey - c_nationkey) ELSE 0 END = 0";
    assert_ne!(code(&analyst, customers).await, "22012");
}

#[tokio::test]
async fn the_audit_trail_records_allowed_and_denied_statements() {
    let gw = TestGateway::start().await;
    let (_admin, analyst) = users(&gw).await;
    let marker = format!("audit-marker-{}", std::process::id());
    let sql = format!("SELECT c_phone, '{marker}' FROM customer LIMIT 3");
    assert_eq!(rows(&analyst, &sql).await.len(), 3);
    assert_eq!(
        code(&analyst, "SELECT c_acctbal FROM customer").await,
        "42501"
    );
    // Only the auditor (and admin) may read the trail.
    assert_eq!(
        code(&analyst, "SELECT count(*) FROM system.audit.events").await,
        "42501"
    );
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    let found = rows(
        &auditor,
        &format!(
            "SELECT \"user\", decision, \"rows\", array_to_string(filters, ','), array_to_string(masks, ','), protocol \
             FROM system.audit.events WHERE sql LIKE '%{marker}%' AND sql NOT LIKE '%system.audit%'"
        ),
    )
    .await;
    assert_eq!(found.len(), 1, "{found:?}");
    let row = &found[0];
    assert_eq!(row[0].as_deref(), Some("analyst"));
    assert_eq!(row[1].as_deref(), Some("allow"));
    assert_eq!(row[2].as_deref(), Some("3"));
    assert!(
        row[3].as_deref().unwrap_or_default().contains("policy.csv"),
        "{row:?}"
    );
    assert!(!row[4].clone().unwrap_or_default().is_empty(), "{row:?}");
    assert_eq!(row[5].as_deref(), Some("postgres"));
    let denied = rows(
        &auditor,
        "SELECT error FROM system.audit.events WHERE \"user\" = 'analyst' AND decision = 'deny' \
         AND sql = 'SELECT c_acctbal FROM customer'",
    )
    .await;
    assert!(!denied.is_empty());
    assert!(
        denied[0][0]
            .as_deref()
            .unwrap_or_default()
            .contains("c_acctbal")
    );
}

/// The analyst's plan for a customer query whose conjuncts are one that cannot fail
/// and one that can: the scan line, and what runs above the policy barrier.
async fn scan_and_above_barrier(analyst: &Client) -> (String, String) {
    let plan: String = rows(
        analyst,
        "EXPLAIN SELECT c_name FROM customer WHERE c_nationkey = 7 AND CAST(c_name AS INT) = 1",
    )
    .await
    .into_iter()
    .filter_map(|r| r.get(1).cloned().flatten())
    .collect::<Vec<_>>()
    .join("\n");
    // Iceberg's scan, or DataFusion's Parquet scan over Iceberg's files.
    let scan = plan
        .lines()
        .find(|l| {
            (l.contains("IcebergTableScan") || l.contains("DataSourceExec"))
                && l.contains("customer")
        })
        .unwrap_or_default()
        .to_string();
    let above = plan
        .split("PolicyBarrierExec")
        .next()
        .unwrap_or_default()
        .to_string();
    (scan, above)
}

fn performance_mode() -> lakegate_gateway::config::Config {
    let mut config = lakegate_tests::test_config(lakegate_tests::seeded_data_dir());
    config.security.statistics = lakegate_security::policy::StatisticsMode::Performance;
    config
}

#[tokio::test]
async fn user_predicates_prune_a_filtered_table_only_in_performance_mode() {
    let pushed =
        |scan: &str| scan.contains("c_nationkey = 7") || scan.contains("c_nationkey@3 = 7");
    // Protected (the default): the scan prunes by the row filter alone.
    let gw = TestGateway::start().await;
    let (_admin, analyst) = users(&gw).await;
    let (scan, _) = scan_and_above_barrier(&analyst).await;
    assert!(!pushed(&scan), "{scan}");
    // Performance: the conjunct that cannot fail reaches the scan; the cast, which can
    // fail, stays above the barrier.
    let gw = TestGateway::start_with(performance_mode()).await;
    let (_admin, analyst) = users(&gw).await;
    let (scan, above) = scan_and_above_barrier(&analyst).await;
    assert!(pushed(&scan), "{scan}");
    assert!(above.contains("CAST(c_name"), "{above}");
}

/// `EXPLAIN COST` as (table, files, files_pruned, rows) of its total row.
async fn estimate(client: &Client, sql: &str) -> Vec<Option<String>> {
    let all = rows(client, &format!("EXPLAIN COST {sql}")).await;
    let total = all.last().cloned().unwrap_or_default();
    vec![total[1].clone(), total[2].clone(), total[4].clone()]
}

#[tokio::test]
async fn figures_shown_to_a_filtered_reader_do_not_depend_on_hidden_rows() {
    // The largest nation name is hidden from the analyst (VIETNAM is in ASIA).
    let probe = |bound: &str| format!("SELECT n_name FROM nation WHERE n_name > '{bound}'");
    let gw = TestGateway::start().await;
    let (admin, analyst) = users(&gw).await;
    let below = estimate(&analyst, &probe("VIETNAL")).await;
    let above = estimate(&analyst, &probe("VIETNAM")).await;
    assert_eq!(
        below, above,
        "pruning by the user's bound reveals hidden values"
    );
    // Row estimates count hidden rows: withheld from the analyst, shown to the admin.
    let customers = estimate(&analyst, "SELECT * FROM customer").await;
    assert_eq!(customers[2], None, "{customers:?}");
    let all = estimate(&admin, "SELECT * FROM lake.tpch.customer").await;
    assert!(all[2].is_some(), "{all:?}");
    // The same probe in performance mode answers the question (the documented cost).
    let gw = TestGateway::start_with(performance_mode()).await;
    let (_admin, analyst) = users(&gw).await;
    let below = estimate(&analyst, &probe("VIETNAL")).await;
    let above = estimate(&analyst, &probe("VIETNAM")).await;
    assert_ne!(below, above);
}

/// The semi-join reduction reads the filtered side of a join a second time for its keys:
/// that second read keeps the row filter, and the answer is the one the policy allows.
#[tokio::test]
async fn an_aggregate_reduced_to_the_joining_keys_sees_only_permitted_keys() {
    let gw = TestGateway::start().await;
    let (admin, analyst) = users(&gw).await;
    let query = |extra: &str| {
        format!(
            "SELECT c_custkey, o.n FROM lake.tpch.customer \
             JOIN (SELECT o_custkey, count(*) AS n FROM lake.tpch.orders GROUP BY o_custkey) o \
             ON o.o_custkey = c_custkey WHERE c_mktsegment = 'BUILDING' {extra} ORDER BY c_custkey"
        )
    };
    let plan: String = rows(&analyst, &format!("EXPLAIN {}", query("")))
        .await
        .into_iter()
        .filter_map(|r| r.get(1).cloned().flatten())
        .collect::<Vec<_>>()
        .join("\n");
    // The key relation: the lines indented under its alias.
    let lines: Vec<&str> = plan.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let at = lines
        .iter()
        .position(|l| l.contains("SubqueryAlias: __semi_join_keys"))
        .unwrap_or_else(|| panic!("orders grouped only for the joining customers: {plan}"));
    let keys: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| indent(l) > indent(lines[at]))
        .copied()
        .collect();
    assert!(
        keys.iter().any(|l| l.contains("PolicyBarrier")),
        "the keys keep the row filter: {plan}"
    );
    let expected = rows(&admin, &query(&format!("AND c_nationkey IN {EUROPE}"))).await;
    assert!(expected.len() > 10, "{expected:?}");
    assert_eq!(rows(&analyst, &query("")).await, expected);
}

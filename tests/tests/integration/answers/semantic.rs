//! The semantic layer over Postgres wire: every semantic query's rows equal those of a
//! hand-written query over the TPC-H base tables (fan-out joins, derived and filtered
//! measures, segments, time granularities, a row-filtered user), mistakes get their
//! SQLSTATEs, catalogs list the semantic tables, and model files reload while serving.

use lakegate_tests::{TestGateway, query_text as rows, seeded_data_dir, test_config};
use tokio_postgres::Client;

/// The nations of EUROPE, as the demo policy's customer filter names them.
const EUROPE: &str = "(6, 7, 19, 22, 23)";

/// A model directory holding a copy of the demo models (returned too).
fn demo_models_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("dir");
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/semantic/tpch.yml"
    ))
    .expect("shipped models");
    std::fs::write(dir.path().join("tpch.yml"), &shipped).expect("write");
    (dir, shipped)
}

async fn code(client: &Client, sql: &str) -> String {
    match client.simple_query(sql).await {
        Ok(_) => "ok".into(),
        Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_default(),
    }
}

async fn same_rows(client: &Client, semantic: &str, by_hand: &str) {
    let got = rows(client, semantic).await;
    let want = rows(client, by_hand).await;
    assert!(
        !want.is_empty(),
        "the hand-written query returns rows: {by_hand}"
    );
    assert_eq!(got, want, "\n{semantic}\nvs\n{by_hand}");
}

#[tokio::test]
async fn semantic_queries_equal_their_hand_written_sql() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let orders_by_nation = "FROM lake.tpch.orders JOIN lake.tpch.customer ON o_custkey = c_custkey \
                            JOIN lake.tpch.nation ON c_nationkey = n_nationkey";
    let cases = [
        // Measures and a derived ratio by a dimension two joins away.
        (
            "SELECT customers_nation, MEASURE(revenue), MEASURE(order_count), average_order_value \
             FROM semantic.orders GROUP BY 1 ORDER BY 1"
                .to_string(),
            format!(
                "SELECT n_name, sum(o_totalprice), count(*), sum(o_totalprice) / count(*) \
                 {orders_by_nation} GROUP BY 1 ORDER BY 1"
            ),
        ),
        // A measure wrapped in its aggregate, and one used alone, at the selected grain.
        (
            "SELECT status, SUM(revenue), largest_order FROM semantic.orders GROUP BY status ORDER BY 1"
                .to_string(),
            "SELECT o_orderstatus, sum(o_totalprice), max(o_totalprice) FROM lake.tpch.orders \
             GROUP BY 1 ORDER BY 1"
                .to_string(),
        ),
        (
            "SELECT status, revenue FROM semantic.orders ORDER BY status".to_string(),
            "SELECT o_orderstatus, sum(o_totalprice) FROM lake.tpch.orders GROUP BY 1 ORDER BY 1"
                .to_string(),
        ),
        // Time granularities, filtered on another granularity.
        (
            "SELECT order_date_month, MEASURE(order_count), COUNT(DISTINCT active_customers) \
             FROM semantic.orders WHERE order_date_year = DATE '1995-01-01' GROUP BY 1 ORDER BY 1"
                .to_string(),
            "SELECT CAST(date_trunc('month', o_orderdate) AS DATE), count(*), count(DISTINCT o_custkey) \
             FROM lake.tpch.orders WHERE o_orderdate >= DATE '1995-01-01' \
             AND o_orderdate < DATE '1996-01-01' GROUP BY 1 ORDER BY 1"
                .to_string(),
        ),
        (
            "SELECT order_date_quarter, order_date_week, MEASURE(order_count) FROM semantic.orders \
             WHERE order_date < DATE '1992-04-01' GROUP BY 1, 2 ORDER BY 1, 2"
                .to_string(),
            "SELECT CAST(date_trunc('quarter', o_orderdate) AS DATE), \
             CAST(date_trunc('week', o_orderdate) AS DATE), count(*) FROM lake.tpch.orders \
             WHERE o_orderdate < DATE '1992-04-01' GROUP BY 1, 2 ORDER BY 1, 2"
                .to_string(),
        ),
        // A segment, a filtered measure and HAVING on a measure.
        (
            "SELECT priority, MEASURE(urgent_revenue), MEASURE(revenue) FROM semantic.orders \
             WHERE high_priority GROUP BY 1 HAVING MEASURE(order_count) > 10 ORDER BY 1"
                .to_string(),
            "SELECT o_orderpriority, sum(CASE WHEN o_orderpriority = '1-URGENT' THEN o_totalprice END), \
             sum(o_totalprice) FROM lake.tpch.orders WHERE o_orderpriority IN ('1-URGENT', '2-HIGH') \
             GROUP BY 1 HAVING count(*) > 10 ORDER BY 1"
                .to_string(),
        ),
        // Fan-out: customers → orders is one-to-many. Each measure at its own grain.
        (
            "SELECT market_segment, MEASURE(customer_count), MEASURE(orders_revenue) \
             FROM semantic.customers GROUP BY 1 ORDER BY 1"
                .to_string(),
            "SELECT c.seg, c.n, o.rev FROM \
             (SELECT c_mktsegment AS seg, count(*) AS n FROM lake.tpch.customer GROUP BY 1) c \
             JOIN (SELECT c_mktsegment AS seg, sum(o_totalprice) AS rev FROM lake.tpch.orders \
                   JOIN lake.tpch.customer ON o_custkey = c_custkey GROUP BY 1) o ON c.seg = o.seg \
             ORDER BY 1"
                .to_string(),
        ),
        // Grouped by the many side: each customer counted once per status.
        (
            "SELECT orders_status, MEASURE(customer_count) FROM semantic.customers GROUP BY 1 ORDER BY 1"
                .to_string(),
            "SELECT o_orderstatus, count(DISTINCT c_custkey) FROM lake.tpch.customer \
             JOIN lake.tpch.orders ON o_custkey = c_custkey GROUP BY 1 ORDER BY 1"
                .to_string(),
        ),
        // No grain: one row, measures of two models.
        (
            "SELECT MEASURE(revenue), customers_customer_count FROM semantic.orders".to_string(),
            "SELECT (SELECT sum(o_totalprice) FROM lake.tpch.orders), \
             (SELECT count(*) FROM lake.tpch.customer)"
                .to_string(),
        ),
        // Dimensions only: their distinct values.
        (
            "SELECT nation, market_segment FROM semantic.customers WHERE nation LIKE 'A%' ORDER BY 1, 2"
                .to_string(),
            "SELECT DISTINCT n_name, c_mktsegment FROM lake.tpch.customer JOIN lake.tpch.nation \
             ON c_nationkey = n_nationkey WHERE n_name LIKE 'A%' ORDER BY 1, 2"
                .to_string(),
        ),
        // A semantic table inside a larger query.
        (
            "SELECT s.status, s.revenue * 2 FROM (SELECT status, revenue FROM lake.semantic.orders) s \
             WHERE s.status <> 'P' ORDER BY 1"
                .to_string(),
            "SELECT o_orderstatus, sum(o_totalprice) * 2 FROM lake.tpch.orders \
             WHERE o_orderstatus <> 'P' GROUP BY 1 ORDER BY 1"
                .to_string(),
        ),
    ];
    for (semantic, by_hand) in &cases {
        same_rows(&client, semantic, by_hand).await;
    }
    // The naive join would have inflated the customer count.
    let naive = rows(
        &client,
        "SELECT count(*) FROM lake.tpch.customer JOIN lake.tpch.orders ON o_custkey = c_custkey",
    )
    .await;
    let counted = rows(
        &client,
        "SELECT MEASURE(customer_count), MEASURE(orders_order_count) FROM semantic.customers",
    )
    .await;
    assert_ne!(
        naive[0][0], counted[0][0],
        "customer_count is not the order count"
    );
    assert_eq!(naive[0][0], counted[0][1]);
}

#[tokio::test]
async fn a_row_filtered_analyst_sees_the_metrics_of_their_region_only() {
    let gw = TestGateway::start().await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let semantic = "SELECT customers_nation, MEASURE(revenue), average_order_value \
                    FROM semantic.orders GROUP BY 1 ORDER BY 1";
    let seen = rows(&analyst, semantic).await;
    let by_hand = rows(
        &admin,
        &format!(
            "SELECT n_name, sum(o_totalprice), sum(o_totalprice) / count(*) FROM lake.tpch.orders \
             JOIN lake.tpch.customer ON o_custkey = c_custkey \
             JOIN lake.tpch.nation ON c_nationkey = n_nationkey \
             WHERE c_nationkey IN {EUROPE} GROUP BY 1 ORDER BY 1"
        ),
    )
    .await;
    assert_eq!(seen, by_hand);
    assert_eq!(seen.len(), 5, "the five nations of EUROPE: {seen:?}");
    assert_ne!(
        seen,
        rows(&admin, semantic).await,
        "the admin sees every nation"
    );
    // The customers model filtered the same way, through its join to nations.
    let customers = rows(
        &analyst,
        "SELECT MEASURE(customer_count) FROM semantic.customers",
    )
    .await;
    let expected = rows(
        &admin,
        &format!("SELECT count(*) FROM lake.tpch.customer WHERE c_nationkey IN {EUROPE}"),
    )
    .await;
    assert_eq!(customers, expected);
    // Orders follow their customer (a row filter that looks customers up): a model
    // over orders alone, with no join, counts EUROPE's orders only.
    let orders = rows(
        &analyst,
        "SELECT priority, MEASURE(order_count), MEASURE(active_customers) \
         FROM semantic.orders GROUP BY 1 ORDER BY 1",
    )
    .await;
    let expected = rows(
        &admin,
        &format!(
            "SELECT o_orderpriority, count(*), count(DISTINCT o_custkey) FROM lake.tpch.orders \
             WHERE o_custkey IN (SELECT c_custkey FROM lake.tpch.customer \
             WHERE c_nationkey IN {EUROPE}) GROUP BY 1 ORDER BY 1"
        ),
    )
    .await;
    assert_eq!(orders, expected);
}

#[tokio::test]
async fn mistakes_get_their_sqlstate() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    for (sql, expected) in [
        ("SELECT nope FROM semantic.orders", "42703"),
        (
            "SELECT status FROM semantic.orders WHERE revenue > 1",
            "42803",
        ),
        (
            "SELECT status, priority, MEASURE(revenue) FROM semantic.orders GROUP BY 1",
            "42803",
        ),
        (
            "SELECT status, AVG(revenue) FROM semantic.orders GROUP BY 1",
            "42803",
        ),
        ("SELECT count(*) FROM semantic.orders", "0A000"),
        (
            "SELECT * FROM semantic.orders JOIN lake.tpch.nation ON true",
            "0A000",
        ),
        ("SELECT * FROM semantic.no_such_model", "42P01"),
    ] {
        assert_eq!(code(&client, sql).await, expected, "{sql}");
    }
    // The connection is still usable.
    assert_eq!(
        rows(&client, "SELECT 1").await,
        vec![vec![Some("1".into())]]
    );
    // No grant on lake.semantic.*: permission denied, and not listed.
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    assert_eq!(
        code(&auditor, "SELECT MEASURE(revenue) FROM semantic.orders").await,
        "42501"
    );
    let listed = rows(
        &auditor,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'semantic'",
    )
    .await;
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn catalogs_list_semantic_tables_with_their_columns() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let tables = rows(
        &client,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'semantic' ORDER BY 1",
    )
    .await;
    let names: Vec<_> = tables
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["customers", "nations", "orders", "regions"]);
    let columns = rows(
        &client,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON a.attrelid = c.oid \
         JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
         WHERE n.nspname = 'semantic' AND c.relname = 'orders' AND a.attnum > 0 ORDER BY a.attnum",
    )
    .await;
    let column = |name: &str| {
        columns
            .iter()
            .find(|r| r[0].as_deref() == Some(name))
            .and_then(|r| r[1].clone())
            .unwrap_or_else(|| panic!("{name} in {columns:?}"))
    };
    assert_eq!(column("order_date_month"), "date");
    assert_eq!(column("order_count"), "bigint");
    assert!(column("revenue").starts_with("numeric"), "{columns:?}");
    assert_eq!(column("customers_nation"), "text");
    // Segments filter rows by name; they are not columns (SELECT * lists the columns).
    assert!(
        !columns
            .iter()
            .any(|r| r[0].as_deref() == Some("high_priority"))
    );
}

#[tokio::test]
async fn model_files_reload_while_serving_and_bad_ones_keep_the_last_good_models() {
    let (dir, shipped) = demo_models_dir();
    let mut config = test_config(seeded_data_dir());
    config.semantic.models_dir = Some(dir.path().display().to_string());
    config.semantic.reload_seconds = 1;
    let gw = TestGateway::start_with(config).await;
    let client = gw.connect().await;
    let query = "SELECT MEASURE(smallest_order) FROM semantic.orders";
    assert_eq!(code(&client, query).await, "42703");

    let added = shipped.replace(
        "      - name: largest_order\n",
        "      - name: smallest_order\n        type: min\n        sql: o_totalprice\n      - name: largest_order\n",
    );
    assert_ne!(added, shipped);
    std::fs::write(dir.path().join("tpch.yml"), &added).expect("write");
    let expected = rows(&client, "SELECT min(o_totalprice) FROM lake.tpch.orders").await;
    let mut reloaded = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        if code(&client, query).await == "ok" {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the new measure appears without a restart");
    assert_eq!(rows(&client, query).await, expected);

    // A broken file is refused; the models in force stay.
    std::fs::write(
        dir.path().join("broken.yml"),
        "models:\n  - name: x\n    tabel: a.b.c\n",
    )
    .expect("write");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(rows(&client, query).await, expected);
}

/// Hits and misses of the results cache so far.
async fn cache_counts(gw: &TestGateway) -> (f64, f64) {
    let (_, metrics) = gw.admin_get("/metrics").await;
    (
        lakegate_tests::metric_value(&metrics, "lakegate_results_cache_hits_total"),
        lakegate_tests::metric_value(&metrics, "lakegate_results_cache_misses_total"),
    )
}

#[tokio::test]
async fn the_results_cache_hits_within_a_policy_and_misses_across_policies_and_snapshots() {
    // A model over a table this test appends to, next to the demo models.
    let other = crate::catalogs::scratch::other_writer().await;
    crate::catalogs::scratch::create_events(&other, "semantic_cache").await;
    crate::catalogs::scratch::append_events(&other, "semantic_cache", 0..10).await;
    let (dir, _) = demo_models_dir();
    std::fs::write(
        dir.path().join("events.yml"),
        "models:\n  - name: events\n    table: lake.semantic_cache.events\n    primary_key: id\n    \
         measures:\n      - name: event_count\n        type: count\n      - name: last_id\n        \
         type: max\n        sql: id\n",
    )
    .expect("write");
    let mut config = test_config(seeded_data_dir());
    config.semantic.models_dir = Some(dir.path().display().to_string());
    config.cache = lakegate_gateway::config::CacheConfig::default();
    let gw = TestGateway::start_with(config).await;
    let demo = gw.connect().await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");

    let by_nation =
        "SELECT customers_nation, MEASURE(revenue) FROM semantic.orders GROUP BY 1 ORDER BY 1";
    let first = rows(&demo, by_nation).await;
    assert_eq!(cache_counts(&gw).await, (0.0, 1.0), "the first run misses");
    assert_eq!(rows(&demo, by_nation).await, first);
    assert_eq!(cache_counts(&gw).await, (1.0, 1.0), "the same user hits");
    // The admin's policy gives the same plan (no filter on these tables): the same rows.
    assert_eq!(rows(&admin, by_nation).await, first);
    assert_eq!(
        cache_counts(&gw).await,
        (2.0, 1.0),
        "the same secured plan hits"
    );
    // The analyst's row filters make another plan: a miss, and only EUROPE.
    let filtered = rows(&analyst, by_nation).await;
    assert_eq!(filtered.len(), 5, "{filtered:?}");
    assert_eq!(cache_counts(&gw).await, (2.0, 2.0), "another policy misses");

    // A new snapshot misses and returns the appended rows.
    let count = "SELECT MEASURE(event_count), MEASURE(last_id) FROM semantic.events";
    assert_eq!(
        rows(&demo, count).await,
        vec![vec![Some("10".into()), Some("9".into())]]
    );
    assert_eq!(
        rows(&demo, count).await,
        vec![vec![Some("10".into()), Some("9".into())]]
    );
    assert_eq!(cache_counts(&gw).await, (3.0, 3.0));
    crate::catalogs::scratch::append_events(&other, "semantic_cache", 10..25).await;
    assert_eq!(
        rows(&demo, count).await,
        vec![vec![Some("25".into()), Some("24".into())]]
    );
    assert_eq!(cache_counts(&gw).await, (3.0, 4.0), "the append misses");
    let (_, metrics) = gw.admin_get("/metrics").await;
    let ratio = lakegate_tests::metric_value(&metrics, "lakegate_results_cache_hit_ratio");
    assert!((ratio - 3.0 / 7.0).abs() < 1e-9, "{ratio}");
}

#[tokio::test]
async fn psql_queries_and_describes_semantic_tables() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let output = gw
        .psql(
            "demo",
            "demo",
            "SELECT status, MEASURE(revenue) FROM semantic.orders GROUP BY 1 ORDER BY 1",
        )
        .await;
    assert!(output.status.success(), "{output:?}");
    let expected: Vec<String> = rows(
        &client,
        "SELECT o_orderstatus, sum(o_totalprice) FROM lake.tpch.orders GROUP BY 1 ORDER BY 1",
    )
    .await
    .into_iter()
    .map(|r| {
        format!(
            "{}|{}",
            r[0].clone().unwrap_or_default(),
            r[1].clone().unwrap_or_default()
        )
    })
    .collect();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .collect::<Vec<_>>(),
        expected
    );
    let described = gw.psql("demo", "demo", "\\d semantic.orders").await;
    assert!(described.status.success(), "{described:?}");
    let text = String::from_utf8_lossy(&described.stdout);
    for column in [
        "order_date_month|date",
        "revenue|numeric",
        "customers_nation|text",
    ] {
        assert!(text.contains(column), "{column} in\n{text}");
    }
}

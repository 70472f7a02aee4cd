//! Row filters that look other tables up: the demo analyst's customers come from an
//! entitlements table they cannot read, orders follow their customer and line items
//! their order. Each figure the analyst sees is checked against the admin applying the
//! same rules by hand, on both protocols; entitlement changes apply from the next
//! statement; circles between filters are refused at load and at reload.

use arrow::array::Int64Array;
use lakegate_tests::{
    TestGateway, query_text as rows, seed_new_data_dir, seeded_data_dir, test_config,
};
use tokio_postgres::Client;

use crate::flight::sql::run;

/// The customers the analyst's entitlements let through, as the admin writes it.
const CUSTOMERS: &str = "SELECT c_custkey FROM lake.tpch.customer WHERE c_nationkey IN \
     (SELECT nationkey FROM lake.security.entitlements WHERE user_name = 'analyst')";

async fn scalar(client: &Client, sql: &str) -> String {
    rows(client, sql).await[0][0].clone().unwrap_or_default()
}

async fn code(client: &Client, sql: &str) -> String {
    match client.simple_query(sql).await {
        Ok(_) => "ok".into(),
        Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_default(),
    }
}

/// Statements over orders and line items, and the admin's by-hand answer of each.
fn shapes() -> Vec<(String, String)> {
    let orders = format!("(SELECT * FROM lake.tpch.orders WHERE o_custkey IN ({CUSTOMERS}))");
    let lineitem = format!(
        "(SELECT * FROM lake.tpch.lineitem WHERE l_orderkey IN \
         (SELECT o_orderkey FROM {orders} o))"
    );
    vec![
        (
            "SELECT count(*) FROM lake.tpch.orders".into(),
            format!("SELECT count(*) FROM {orders} o"),
        ),
        (
            "SELECT count(*), sum(l_quantity) FROM lineitem".into(),
            format!("SELECT count(*), sum(l_quantity) FROM {lineitem} l"),
        ),
        (
            "SELECT o_orderpriority, count(*) FROM orders GROUP BY 1 ORDER BY 1".into(),
            format!("SELECT o_orderpriority, count(*) FROM {orders} o GROUP BY 1 ORDER BY 1"),
        ),
        // A join the other way round: the orders of every customer the analyst sees.
        (
            "SELECT count(*) FROM customer c JOIN orders o ON o.o_custkey = c.c_custkey".into(),
            format!("SELECT count(*) FROM {orders} o"),
        ),
        // Reading orders through a subquery, a CTE, a set operation and EXISTS.
        (
            "WITH o AS (SELECT o_orderkey FROM orders) \
             SELECT count(*) FROM lineitem WHERE l_orderkey IN (SELECT o_orderkey FROM o)"
                .into(),
            format!("SELECT count(*) FROM {lineitem} l"),
        ),
        (
            "SELECT count(*) FROM (SELECT o_custkey FROM orders UNION ALL \
             SELECT o_custkey FROM lake.tpch.orders) u"
                .into(),
            format!("SELECT 2 * count(*) FROM {orders} o"),
        ),
        (
            "SELECT count(*) FROM customer c WHERE NOT EXISTS \
             (SELECT 1 FROM orders o WHERE o.o_custkey = c.c_custkey)"
                .into(),
            format!(
                "SELECT count(*) FROM lake.tpch.customer c WHERE c.c_custkey IN ({CUSTOMERS}) \
                 AND NOT EXISTS (SELECT 1 FROM lake.tpch.orders o WHERE o.o_custkey = c.c_custkey)"
            ),
        ),
        // A predicate that would be true of a hidden order reveals nothing.
        (
            "SELECT count(*) FROM orders WHERE o_custkey NOT IN (SELECT c_custkey FROM customer)"
                .into(),
            "SELECT 0::bigint".into(),
        ),
        (
            "SELECT max(o_totalprice) FROM orders".into(),
            format!("SELECT max(o_totalprice) FROM {orders} o"),
        ),
    ]
}

#[tokio::test]
async fn orders_and_line_items_follow_the_customers_the_entitlements_allow() {
    let gw = TestGateway::start().await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let mut flight = gw.flight_as("analyst", "analyst").await.expect("flight");

    // The entitlements name EUROPE's nations; fewer orders than the whole table.
    let visible = scalar(&admin, &format!("SELECT count(*) FROM ({CUSTOMERS}) c")).await;
    let europe = scalar(
        &admin,
        "SELECT count(*) FROM lake.tpch.customer WHERE c_nationkey IN (6, 7, 19, 22, 23)",
    )
    .await;
    assert_eq!(visible, europe);
    assert_eq!(
        scalar(&analyst, "SELECT count(*) FROM customer").await,
        europe
    );
    let all_orders = scalar(&admin, "SELECT count(*) FROM lake.tpch.orders").await;

    for (analyst_sql, reference) in shapes() {
        let expected = rows(&admin, &reference).await;
        let seen = rows(&analyst, &analyst_sql).await;
        assert_eq!(seen, expected, "{analyst_sql}");
        // The same statement as a prepared statement (extended protocol).
        let prepared = analyst
            .query(analyst_sql.as_str(), &[])
            .await
            .unwrap_or_else(|e| panic!("{analyst_sql}: {e}"));
        assert_eq!(prepared.len(), expected.len(), "{analyst_sql}");
    }
    let orders = scalar(&analyst, "SELECT count(*) FROM orders").await;
    assert_ne!(
        orders, all_orders,
        "the analyst's orders are not all orders"
    );
    assert_ne!(orders, "0");

    // Flight SQL: the same counts.
    for table in ["orders", "lineitem", "customer"] {
        let sql = format!("SELECT count(*) FROM lake.tpch.{table}");
        let batches = run(&mut flight, &sql).await.expect("flight count");
        let counted = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("count")
            .value(0);
        assert_eq!(counted.to_string(), scalar(&analyst, &sql).await, "{sql}");
    }
}

#[tokio::test]
async fn the_entitlements_table_is_governed_and_named_in_errors_never_in_rows() {
    let gw = TestGateway::start().await;
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    // The analyst cannot read the table their filter reads, under any name.
    for sql in [
        "SELECT * FROM lake.security.entitlements",
        "SELECT count(*) FROM security.entitlements",
        "SELECT c_custkey FROM customer WHERE c_nationkey IN \
         (SELECT nationkey FROM lake.security.entitlements)",
        "DESCRIBE lake.security.entitlements",
    ] {
        assert_eq!(code(&analyst, sql).await, "42501", "{sql}");
    }
    // Nor list it.
    let listed = rows(
        &analyst,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'entitlements'",
    )
    .await;
    assert_eq!(listed[0][0].as_deref(), Some("0"));
    // EXPLAIN shows the plan the analyst runs, filters included; it is their own query.
    let plan = rows(&analyst, "EXPLAIN SELECT count(*) FROM orders").await;
    assert!(!plan.is_empty());
}

#[tokio::test]
async fn an_entitlement_granted_or_revoked_applies_from_the_next_statement() {
    let dir = seed_new_data_dir("lakegate-entitlements-");
    // With the results cache on: a cached answer must not outlive an entitlement.
    let mut cached = test_config(&dir);
    cached.cache.results_mb = 64;
    let gw = TestGateway::start_with(cached).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let count = |nations: &str| {
        format!(
            "SELECT count(*) FROM lake.tpch.orders o JOIN lake.tpch.customer c ON o.o_custkey = c.c_custkey WHERE c.c_nationkey IN ({nations})"
        )
    };
    let before = scalar(&analyst, "SELECT count(*) FROM orders").await;
    assert_eq!(
        scalar(&analyst, "SELECT count(*) FROM orders").await,
        before
    );
    assert_eq!(before, scalar(&admin, &count("6, 7, 19, 22, 23")).await);
    // A prepared statement keeps its secured plan from its second execution on: the
    // values its lookups read are in that plan, which must not outlive them either.
    let prepared = analyst
        .prepare("SELECT count(*) FROM customer")
        .await
        .expect("prepare");
    // The prepared count against the admin's count of customers of `nations`.
    let prepared_matches = async |nations: &str| {
        let seen: i64 = analyst
            .query_one(&prepared, &[])
            .await
            .expect("customers")
            .get(0);
        let sql =
            format!("SELECT count(*) FROM lake.tpch.customer WHERE c_nationkey IN ({nations})");
        assert_eq!(seen.to_string(), scalar(&admin, &sql).await, "{nations}");
    };
    for _ in 0..3 {
        prepared_matches("6, 7, 19, 22, 23").await;
    }

    // JAPAN (12) granted: the analyst's next statement sees its orders too.
    admin
        .simple_query("INSERT INTO lake.security.entitlements VALUES ('analyst', 12)")
        .await
        .expect("grant an entitlement");
    let after = scalar(&analyst, "SELECT count(*) FROM orders").await;
    assert_eq!(after, scalar(&admin, &count("6, 7, 12, 19, 22, 23")).await);
    assert_ne!(before, after);
    prepared_matches("6, 7, 12, 19, 22, 23").await;
    let japanese = scalar(
        &analyst,
        "SELECT count(*) FROM customer WHERE c_nationkey = 12",
    )
    .await;
    assert_ne!(japanese, "0");

    // A user of the same role with no entitlements sees no customers, orders or line
    // items.
    let dir2 = tempfile::tempdir().expect("dir");
    let policy = dir2.path().join("policy.csv");
    std::fs::write(
        dir2.path().join("tags.csv"),
        lakegate_security::policy::DEMO_TAGS,
    )
    .expect("tags");
    std::fs::write(
        &policy,
        lakegate_security::policy::DEMO_POLICY.replace(
            "g, analyst, role:analyst",
            "g, analyst, role:analyst\ng, auditor, role:analyst",
        ),
    )
    .expect("policy");
    let mut config = test_config(&dir);
    config.security.policy = Some(policy.display().to_string());
    let gw2 = TestGateway::start_with(config).await;
    let auditor = gw2.connect_as("auditor", "auditor").await.expect("auditor");
    for table in ["customer", "orders", "lineitem", "supplier"] {
        assert_eq!(
            scalar(&auditor, &format!("SELECT count(*) FROM lake.tpch.{table}")).await,
            "0",
            "{table}"
        );
    }
}

#[tokio::test]
async fn filters_that_look_each_other_up_in_a_circle_are_refused_with_their_line() {
    let circle = "g, analyst, role:analyst\n\
        p, role:analyst, lake.tpch.*, select, allow\n\
        p2, role:analyst, lake.tpch.orders, \"o_custkey IN (SELECT c_custkey FROM lake.tpch.customer)\"\n\
        p2, role:analyst, lake.tpch.customer, \"c_custkey IN (SELECT o_custkey FROM lake.tpch.orders)\"\n";
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("policy.csv");
    std::fs::write(&path, circle).expect("write");
    let mut config = test_config(seeded_data_dir());
    config.security.policy = Some(path.display().to_string());
    config.security.reload_seconds = 1;
    let err = format!(
        "{:#}",
        lakegate_gateway::server::Gateway::start(config.clone(), false)
            .await
            .expect_err("a circle")
    );
    assert!(
        err.contains("policy.csv:3") && err.contains("circle"),
        "{err}"
    );

    // A lookup must name its table in full.
    std::fs::write(
        &path,
        "g, analyst, role:analyst\n\
         p, role:analyst, lake.tpch.*, select, allow\n\
         p2, role:analyst, lake.tpch.orders, \"o_custkey IN (SELECT c_custkey FROM customer)\"\n",
    )
    .expect("write");
    let err = format!(
        "{:#}",
        lakegate_gateway::server::Gateway::start(config.clone(), false)
            .await
            .expect_err("a short name")
    );
    assert!(
        err.contains("policy.csv:3") && err.contains("in full"),
        "{err}"
    );

    // A good policy, then a circle by hot reload: refused, the last good one kept.
    let good = "g, analyst, role:analyst\n\
        p, admin, lake.tpch.*, select, allow\n\
        p, role:analyst, lake.tpch.*, select, allow\n\
        p2, role:analyst, lake.tpch.customer, \"c_nationkey = 7\"\n\
        p2, role:analyst, lake.tpch.orders, \"o_custkey IN (SELECT c_custkey FROM lake.tpch.customer)\"\n";
    std::fs::write(&path, good).expect("write");
    let gw = TestGateway::start_with(config).await;
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let germans = "SELECT count(*) FROM lake.tpch.orders WHERE o_custkey IN \
                   (SELECT c_custkey FROM lake.tpch.customer WHERE c_nationkey = 7)";
    let expected = scalar(&admin, germans).await;
    assert_eq!(
        scalar(&analyst, "SELECT count(*) FROM orders").await,
        expected
    );
    std::fs::write(&path, circle).expect("write");
    let err = gw
        .gateway
        .service()
        .policy()
        .reload()
        .await
        .expect_err("a circle by reload")
        .to_string();
    assert!(
        err.contains("policy.csv:3") && err.contains("circle"),
        "{err}"
    );
    assert_eq!(
        scalar(&analyst, "SELECT count(*) FROM orders").await,
        expected
    );
}

/// Lookups with few values are read into lists while planning; each shape answers as
/// the semi-join the admin writes by hand: IN and NOT IN, a NULL among the values (NOT
/// IN then lets nothing through), and no values at all (IN lets nothing through, NOT IN
/// everything). The audit still names the table the values came from.
#[tokio::test]
async fn lookups_with_few_values_answer_as_their_semi_joins() {
    let dir = seed_new_data_dir("lakegate-lookup-lists-");
    {
        let gw = TestGateway::start_with(test_config(&dir)).await;
        let admin = gw.connect_as("admin", "admin").await.expect("admin");
        admin
            .simple_query(
                "CREATE TABLE lake.security.blocked AS SELECT * FROM (VALUES \
                 ('analyst', 1), ('analyst', 2), ('auditor', 3), ('auditor', NULL)) t(owner, k)",
            )
            .await
            .expect("create the lookup table");
    }
    let policy_dir = tempfile::tempdir().expect("dir");
    let policy = policy_dir.path().join("policy.csv");
    std::fs::write(
        &policy,
        "g, analyst, role:r\n\
         g, auditor, role:r\n\
         g, viewer, role:r\n\
         p, admin, lake.*.*, select, allow\n\
         p, role:r, lake.tpch.*, select, allow\n\
         p2, role:r, lake.tpch.nation, \"n_nationkey NOT IN (SELECT k FROM lake.security.blocked WHERE owner = ${user.name})\"\n\
         p2, role:r, lake.tpch.region, \"r_regionkey IN (SELECT k FROM lake.security.blocked WHERE owner = ${user.name})\"\n",
    )
    .expect("policy");
    let audit = policy_dir.path().join("audit.jsonl");
    let mut config = test_config(&dir);
    config.security.policy = Some(policy.display().to_string());
    config.audit.path = Some(audit.display().to_string());
    config.cache.results_mb = 64;
    config.users = lakegate_tests::users_named(&["admin", "analyst", "auditor", "viewer"]);
    let gw = TestGateway::start_with(config).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    // (user, nations seen, regions seen), as SQL defines NOT IN and IN over the rows.
    for (user, nations, regions) in [
        ("analyst", "23", "2"),
        ("auditor", "0", "1"),
        ("viewer", "25", "0"),
    ] {
        let client = gw.connect_as(user, user).await.expect(user);
        let by_hand = |table: &str, column: &str, not: &str| {
            format!(
                "SELECT count(*) FROM lake.tpch.{table} WHERE {column} {not} IN \
                 (SELECT k FROM lake.security.blocked WHERE owner = '{user}')"
            )
        };
        assert_eq!(
            scalar(&admin, &by_hand("nation", "n_nationkey", "NOT")).await,
            nations
        );
        assert_eq!(
            scalar(&admin, &by_hand("region", "r_regionkey", "")).await,
            regions
        );
        // Twice: the values read, then kept for the same data; and prepared.
        for _ in 0..2 {
            assert_eq!(
                scalar(&client, "SELECT count(*) FROM nation").await,
                nations,
                "{user}"
            );
            assert_eq!(
                scalar(&client, "SELECT count(*) FROM region").await,
                regions,
                "{user}"
            );
            let prepared = client
                .prepare("SELECT count(*) FROM nation JOIN region ON n_regionkey = r_regionkey")
                .await
                .expect("prepare");
            for _ in 0..3 {
                let joined: i64 = client.query_one(&prepared, &[]).await.expect("join").get(0);
                let expected = scalar(
                    &admin,
                    &format!(
                        "SELECT count(*) FROM ({}) n JOIN ({}) r ON n_regionkey = r_regionkey",
                        by_hand("nation", "n_nationkey", "NOT").replace("count(*)", "*"),
                        by_hand("region", "r_regionkey", "").replace("count(*)", "*"),
                    ),
                )
                .await;
                assert_eq!(joined.to_string(), expected, "{user}");
            }
        }
    }
    let (_, metrics) = gw.admin_get("/metrics").await;
    let read = lakegate_tests::metric_value(&metrics, "lakegate_lookup_lists_read_total");
    let kept = lakegate_tests::metric_value(&metrics, "lakegate_lookup_lists_kept_total");
    // Per user, both filters' subqueries are the same one: read once, then kept.
    assert!(read >= 3.0 && kept >= 9.0, "lists read {read}, kept {kept}");

    // EXPLAIN reads no rows: it shows the subquery, never the values read.
    let viewer = gw.connect_as("auditor", "auditor").await.expect("auditor");
    let plan = lakegate_tests::query_joined(&viewer, "EXPLAIN SELECT count(*) FROM region").await;
    assert!(plan.contains("blocked"), "{plan}");
    assert!(!plan.contains("IN ([Int"), "{plan}");

    // The audit names the table the values were read from, and the filter.
    let trail = std::fs::read_to_string(&audit).expect("audit");
    let record = trail
        .lines()
        .rev()
        .find(|l| l.contains("\"viewer\"") && l.contains("FROM nation"))
        .expect("the viewer's statement is audited");
    assert!(record.contains("lake.security.blocked"), "{record}");
    assert!(record.contains("lake.tpch.nation"), "{record}");
}

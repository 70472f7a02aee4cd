//! The results cache over Postgres wire: a repeated query is answered from the cache
//! with the rows it gave when it ran, for every principal whose policy makes the same
//! plan and no other; new parameters, a new snapshot, a volatile function or
//! `SET gateway.cache = off` run the query; the history says which results were hits.

use lakegate_gateway::config::CacheConfig;
use lakegate_tests::{TestGateway, metric_value, query_text as rows, seeded_data_dir, test_config};
use tokio_postgres::Client;

/// Hits answered without planning the statement, so far.
async fn unplanned(gw: &TestGateway) -> f64 {
    let (_, metrics) = gw.admin_get("/metrics").await;
    metric_value(&metrics, "lakegate_results_cache_unplanned_hits_total")
}

/// Hits and misses so far.
async fn counts(gw: &TestGateway) -> (f64, f64) {
    let (_, metrics) = gw.admin_get("/metrics").await;
    (
        metric_value(&metrics, "lakegate_results_cache_hits_total"),
        metric_value(&metrics, "lakegate_results_cache_misses_total"),
    )
}

async fn cached_gateway() -> TestGateway {
    let mut config = test_config(seeded_data_dir());
    config.cache = CacheConfig::default();
    TestGateway::start_with(config).await
}

/// The `cache_hit` and `bytes_scanned` of the finished queries whose text holds
/// `marker`, in the order they ended.
async fn history(auditor: &Client, marker: &str) -> Vec<Vec<Option<String>>> {
    rows(
        auditor,
        &format!(
            "SELECT user_name, cache_hit, bytes_scanned > 0 FROM system.history.queries \
             WHERE query LIKE '%{marker}%' AND query NOT LIKE '%system.history%' \
             ORDER BY ended_at, query_id"
        ),
    )
    .await
}

#[tokio::test]
async fn a_repeated_query_is_served_from_the_cache_within_its_policy() {
    let gw = cached_gateway().await;
    let demo = gw.connect().await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");

    // The analyst's policy filters customers to EUROPE.
    let by_nation = "SELECT c_nationkey, count(*), max(c_custkey) FROM lake.tpch.customer \
                     GROUP BY 1 ORDER BY 1 -- cache-policy";
    let first = rows(&demo, by_nation).await;
    assert_eq!(first.len(), 25, "{first:?}");
    assert_eq!(counts(&gw).await, (0.0, 1.0), "the first run misses");
    assert_eq!(
        rows(&demo, by_nation).await,
        first,
        "the hit gives the same rows"
    );
    assert_eq!(counts(&gw).await, (1.0, 1.0));
    // The admin's policy makes the same plan: it shares the entry.
    assert_eq!(rows(&admin, by_nation).await, first);
    assert_eq!(counts(&gw).await, (2.0, 1.0));
    // The analyst's row filter makes another plan: a miss, and only EUROPE's rows,
    // cached for the analyst in turn.
    let filtered = rows(&analyst, by_nation).await;
    assert_eq!(filtered.len(), 5, "{filtered:?}");
    assert_eq!(rows(&analyst, by_nation).await, filtered);
    assert_eq!(counts(&gw).await, (3.0, 2.0));
    // The same principal's repeats are found by their statement, without planning;
    // the admin's hit needed its plan to be made (the key is the plan's).
    assert_eq!(unplanned(&gw).await, 2.0);

    // The history tells hits (which read nothing) from runs.
    let yes_no =
        |user: &str, hit: &str, read: &str| [user, hit, read].map(|v| Some(v.to_string())).to_vec();
    assert_eq!(
        history(&auditor, "cache-policy").await,
        vec![
            yes_no("demo", "f", "t"),
            yes_no("demo", "t", "f"),
            yes_no("admin", "t", "f"),
            yes_no("analyst", "f", "t"),
            yes_no("analyst", "t", "f"),
        ]
    );
    let (_, metrics) = gw.admin_get("/metrics").await;
    assert!(metric_value(&metrics, "lakegate_results_cache_bytes") > 0.0);
    assert_eq!(
        metric_value(&metrics, "lakegate_results_cache_entries"),
        2.0
    );
}

#[tokio::test]
async fn parameters_volatile_functions_and_the_session_setting_are_respected() {
    let gw = cached_gateway().await;
    let demo = gw.connect().await;
    let count = "SELECT count(*) FROM lake.tpch.orders WHERE o_orderkey < $1";
    let n = |rows: Vec<tokio_postgres::Row>| rows[0].get::<_, i64>(0);
    let ten = n(demo.query(count, &[&10i64]).await.expect("10"));
    let hundred = n(demo.query(count, &[&100i64]).await.expect("100"));
    assert!(ten < hundred, "{ten} < {hundred}");
    assert_eq!(
        counts(&gw).await,
        (0.0, 2.0),
        "new parameters run the query"
    );
    assert_eq!(n(demo.query(count, &[&10i64]).await.expect("10")), ten);
    assert_eq!(counts(&gw).await, (1.0, 2.0), "the same parameters hit");

    // Functions whose value is not fixed by their arguments are never cached.
    for volatile in [
        "SELECT now() AS t, count(*) FROM lake.tpch.nation",
        "SELECT random() AS r FROM lake.tpch.region",
    ] {
        let first = rows(&demo, volatile).await;
        let second = rows(&demo, volatile).await;
        assert_eq!(counts(&gw).await, (1.0, 2.0), "{volatile}");
        assert_ne!(first, second, "{volatile}");
    }
    // Tables without versions (the gateway's own) are not cached.
    rows(&demo, "SELECT count(*) FROM system.runtime.queries").await;
    rows(&demo, "SELECT count(*) FROM system.runtime.queries").await;
    assert_eq!(counts(&gw).await, (1.0, 2.0));

    // Off for the session: the query runs, and is not counted.
    let nations = "SELECT n_name FROM lake.tpch.nation ORDER BY 1";
    demo.batch_execute("SET gateway.cache = off")
        .await
        .expect("set");
    let off = rows(&demo, nations).await;
    assert_eq!(rows(&demo, nations).await, off);
    assert_eq!(counts(&gw).await, (1.0, 2.0));
    demo.batch_execute("RESET gateway.cache")
        .await
        .expect("reset");
    assert_eq!(rows(&demo, nations).await, off);
    assert_eq!(rows(&demo, nations).await, off);
    assert_eq!(counts(&gw).await, (2.0, 3.0));
    let bad = demo
        .batch_execute("SET gateway.cache = sometimes")
        .await
        .expect_err("not a boolean");
    assert_eq!(bad.code().map(|c| c.code()), Some("22023"), "{bad}");
}

#[tokio::test]
async fn a_new_snapshot_is_a_new_key() {
    let other = crate::catalogs::scratch::other_writer().await;
    crate::catalogs::scratch::create_events(&other, "results_cache").await;
    crate::catalogs::scratch::append_events(&other, "results_cache", 0..10).await;
    let gw = cached_gateway().await;
    let demo = gw.connect().await;
    let count = "SELECT count(*), max(id) FROM lake.results_cache.events";
    let ten = vec![vec![Some("10".to_string()), Some("9".to_string())]];
    assert_eq!(rows(&demo, count).await, ten);
    assert_eq!(rows(&demo, count).await, ten);
    assert_eq!(counts(&gw).await, (1.0, 1.0));
    crate::catalogs::scratch::append_events(&other, "results_cache", 10..25).await;
    assert_eq!(
        rows(&demo, count).await,
        vec![vec![Some("25".to_string()), Some("24".to_string())]],
        "the append is read at once"
    );
    assert_eq!(counts(&gw).await, (1.0, 2.0));
}

#[tokio::test]
async fn a_live_catalog_is_cached_only_when_it_opts_in_and_for_its_ttl() {
    let root = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(root.path().join("sales")).expect("dirs");
    let targets = root.path().join("sales/targets.csv");
    std::fs::write(&targets, "nation,target\n1,100\n2,250\n").expect("csv");
    let mut config = test_config(seeded_data_dir());
    config.cache = CacheConfig::default();
    let mut catalogs = config.effective_catalogs();
    for (name, ttl) in [("live", None), ("opted", Some(2))] {
        catalogs.push(lakegate_catalog::CatalogConfig {
            name: name.into(),
            kind: lakegate_catalog::CatalogType::Files,
            location: Some(root.path().display().to_string()),
            results_cache_seconds: ttl,
            ..Default::default()
        });
    }
    config.catalogs = catalogs;
    let gw = TestGateway::start_with(config).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let count = |catalog: &str| format!("SELECT count(*) FROM {catalog}.sales.targets");
    let n = |v: &str| vec![vec![Some(v.to_string())]];

    // Without opting in, files are read by every query.
    assert_eq!(rows(&admin, &count("live")).await, n("2"));
    assert_eq!(rows(&admin, &count("live")).await, n("2"));
    assert_eq!(counts(&gw).await, (0.0, 0.0));

    // Opted in: the second query is a hit, and a change to the files is seen only
    // once the entry's TTL has passed.
    assert_eq!(rows(&admin, &count("opted")).await, n("2"));
    std::fs::write(&targets, "nation,target\n1,100\n2,250\n3,400\n").expect("csv");
    assert_eq!(
        rows(&admin, &count("opted")).await,
        n("2"),
        "within the TTL"
    );
    assert_eq!(counts(&gw).await, (1.0, 1.0));
    assert_eq!(rows(&admin, &count("live")).await, n("3"));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(rows(&admin, &count("opted")).await, n("3"), "after the TTL");
    assert_eq!(counts(&gw).await, (1.0, 2.0));
}

/// A statement sent again is answered without being planned when nothing it was
/// planned under changed; a policy reload changes that, and the next run is planned
/// under the new policy. The audit record of a hit still names the filters applied.
#[tokio::test]
async fn a_reloaded_policy_is_applied_to_a_statement_answered_before() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("policy.csv");
    let policy = |region: &str| {
        format!(
            "g, analyst, role:analyst\n\
             p, role:analyst, lake.tpch.*, select, allow\n\
             p2, role:analyst, lake.tpch.region, \"r_name = '{region}'\"\n\
             g, auditor, role:auditor\n\
             p, role:auditor, system.audit.*, select, allow\n"
        )
    };
    std::fs::write(&path, policy("EUROPE")).expect("policy");
    let mut config = test_config(seeded_data_dir());
    config.cache = CacheConfig::default();
    config.security.policy = Some(path.display().to_string());
    let gw = TestGateway::start_with(config).await;
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let regions = "SELECT r_name FROM lake.tpch.region ORDER BY 1 -- cache-reload";
    let europe = vec![vec![Some("EUROPE".to_string())]];
    assert_eq!(rows(&analyst, regions).await, europe);
    assert_eq!(rows(&analyst, regions).await, europe);
    assert_eq!(counts(&gw).await, (1.0, 1.0));
    assert_eq!(unplanned(&gw).await, 1.0, "the repeat is not planned");

    std::fs::write(&path, policy("ASIA")).expect("rewrite");
    gw.gateway
        .service()
        .policy()
        .reload()
        .await
        .expect("reload");
    let asia = vec![vec![Some("ASIA".to_string())]];
    assert_eq!(
        rows(&analyst, regions).await,
        asia,
        "the new filter applies"
    );
    assert_eq!(rows(&analyst, regions).await, asia);
    assert_eq!(counts(&gw).await, (2.0, 2.0));
    assert_eq!(unplanned(&gw).await, 2.0);

    // Every record names the filter, hits as well as runs.
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    let filters = rows(
        &auditor,
        "SELECT array_to_string(filters, ','), array_to_string(tables, ',') \
         FROM system.audit.events WHERE sql LIKE '%cache-reload%' \
         AND sql NOT LIKE '%system.audit%' ORDER BY query_id",
    )
    .await;
    assert_eq!(filters.len(), 4, "{filters:?}");
    for row in &filters {
        assert!(
            row[0].as_deref().unwrap_or_default().contains("policy.csv"),
            "{filters:?}"
        );
        assert_eq!(row[1].as_deref(), Some("lake.tpch.region"), "{filters:?}");
    }
}

/// Two principals whose row filters differ never share an entry, whatever the
/// filter's form: a row filter the scan's source applies is part of the key (the plan
/// alone is the same for both), and a filter that holds no constant (`current_date`)
/// makes the query uncacheable. The admin's unfiltered entry is no one else's.
#[tokio::test]
async fn principals_with_different_row_filters_never_share_an_entry() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("policy.csv");
    std::fs::write(
        &path,
        "g, eu, role:eu
         p, role:eu, lake.tpch.*, select, allow
         p2, role:eu, lake.tpch.region, \"r_name = 'EUROPE'\"
         g, asia, role:asia
         p, role:asia, lake.tpch.*, select, allow
         p2, role:asia, lake.tpch.region, \"r_name IN ('ASIA', 'AFRICA')\"
         g, today, role:today
         p, role:today, lake.tpch.*, select, allow
         p2, role:today, lake.tpch.region, \"current_date > DATE '2000-01-01' AND r_regionkey < 2\"
         g, admin, role:admin
         p, role:admin, *.*.*, admin, allow
         p, role:admin, *.*.*, select, allow
",
    )
    .expect("policy");
    let mut config = test_config(seeded_data_dir());
    config.cache = CacheConfig::default();
    config.security.policy = Some(path.display().to_string());
    config.users = lakegate_tests::users_named(&["eu", "asia", "today", "admin"]);
    let gw = TestGateway::start_with(config).await;
    let regions = "SELECT r_name FROM lake.tpch.region ORDER BY 1 -- cache-filters";
    let names = |list: &[&str]| -> Vec<Vec<Option<String>>> {
        list.iter().map(|n| vec![Some(n.to_string())]).collect()
    };
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    assert_eq!(rows(&admin, regions).await.len(), 5);
    for (user, expected) in [
        ("eu", names(&["EUROPE"])),
        ("asia", names(&["AFRICA", "ASIA"])),
        ("today", names(&["AFRICA", "AMERICA"])),
    ] {
        let client = gw.connect_as(user, user).await.expect(user);
        assert_eq!(rows(&client, regions).await, expected, "{user}");
        assert_eq!(rows(&client, regions).await, expected, "{user} again");
    }
    // One miss each for the admin, eu and asia, a hit each for eu and asia's repeats;
    // the `current_date` filter is not cached (two runs, neither a hit nor a miss).
    assert_eq!(counts(&gw).await, (2.0, 3.0));
}

/// Clients that send the same query at once share one run: the first computes it,
/// the others wait for its result and are answered from the cache.
#[tokio::test]
async fn identical_queries_sent_at_once_run_once() {
    let gw = cached_gateway().await;
    let query = "SELECT l_returnflag, count(*), sum(l_quantity) FROM lake.tpch.lineitem \
                 GROUP BY 1 ORDER BY 1 -- at-once";
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(gw.connect().await);
    }
    let answers = futures::future::join_all(clients.iter().map(|c| rows(c, query))).await;
    assert!(
        answers.iter().all(|a| a == &answers[0] && a.len() == 3),
        "{answers:?}"
    );
    let (hits, misses) = counts(&gw).await;
    assert_eq!(hits + misses, 6.0);
    assert_eq!(misses, 1.0, "one run for six clients");
}

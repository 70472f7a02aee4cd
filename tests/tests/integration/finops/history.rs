//! The query history: every finished query, with its figures, in an Iceberg table that
//! survives a restart, committed in batches, and readable by SQL under the policy.

use lakegate_tests::{TestGateway, query_text, seeded_data_dir, test_config};

#[tokio::test]
async fn history_is_listed_at_once_survives_a_restart_and_is_filtered_by_policy() {
    let dir = tempfile::tempdir().expect("history dir");
    let mut config = test_config(seeded_data_dir());
    config.finops.history.dir = Some(dir.path().display().to_string());
    // Nothing is committed before shutdown: what is listed comes from the buffer.
    config.finops.history.flush_seconds = 3600;
    let marker = format!("history-{}", std::process::id());

    let gw = TestGateway::start_with(config.clone()).await;
    let demo = gw.connect().await;
    for n in 0..3 {
        demo.simple_query(&format!(
            "SELECT max(n_name) /* {marker} {n} */ FROM lake.tpch.nation"
        ))
        .await
        .expect("query");
    }
    let error = demo
        .simple_query(&format!("SELECT 1 /* {marker} */ FROM lake.tpch.missing"))
        .await
        .expect_err("missing table");
    assert_eq!(error.code().map(|c| c.code()), Some("42P01"));
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    analyst
        .simple_query(&format!(
            "SELECT count(*) /* {marker} */ FROM lake.tpch.region"
        ))
        .await
        .expect("analyst query");

    // The per-day cost reports over the history, as the auditor reads them.
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    let report = |sql: &'static str| {
        let auditor = &auditor;
        async move {
            query_text(auditor, sql)
                .await
                .into_iter()
                .map(|r| {
                    (
                        r[0].clone().unwrap_or_default(),
                        r[1].clone().unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        report("SELECT user_name, queries FROM system.finops.cost_by_user ORDER BY 1").await,
        [pair("analyst", "1"), pair("demo", "4")]
    );
    assert_eq!(
        report("SELECT role_name, queries FROM system.finops.cost_by_role ORDER BY 1").await,
        [
            pair("role:analyst", "1"),
            pair("role:auditor", "1"),
            pair("role:reader", "4")
        ]
    );
    assert_eq!(
        report(
            "SELECT table_name, queries FROM system.finops.cost_by_table \
             WHERE table_name LIKE 'lake.%' ORDER BY 1"
        )
        .await,
        [pair("lake.tpch.nation", "3"), pair("lake.tpch.region", "1")]
    );

    let listing = format!(
        "SELECT user_name, status, files_scanned, rows_returned, bytes_scanned > 0, \
         cost > 0, protocol, started_at <= ended_at \
         FROM system.history.queries WHERE query LIKE '%{marker}%' \
         AND query NOT LIKE '%system.history%' ORDER BY ended_at, query_id"
    );
    let before = query_text(&auditor, &listing).await;
    let row = |user: &str, status: &str, files: &str, rows: &str, read: &str| {
        [user, status, files, rows, read, read, "postgres", "t"]
            .map(|v| Some(v.to_string()))
            .to_vec()
    };
    let expected = vec![
        row("demo", "finished", "1", "1", "t"),
        row("demo", "finished", "1", "1", "t"),
        row("demo", "finished", "1", "1", "t"),
        row("demo", "failed", "0", "0", "f"),
        row("analyst", "finished", "1", "1", "t"),
    ];
    assert_eq!(before, expected);
    // The demo user sees only its own queries.
    let own = query_text(&demo, &listing).await;
    assert_eq!(own.len(), 4);
    assert!(own.iter().all(|r| r[0].as_deref() == Some("demo")));
    drop((demo, analyst, auditor));
    gw.gateway.shutdown().await;

    // One commit at shutdown: one data file, not one per query.
    let data = dir.path().join("warehouse/history/queries/data");
    let files = std::fs::read_dir(&data).expect("history data").count();
    assert_eq!(files, 1, "history written in one batch");

    let gw = TestGateway::start_with(config).await;
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    let after = query_text(&auditor, &listing).await;
    assert_eq!(after, expected, "history survives the restart");
    let ids = query_text(
        &auditor,
        &format!(
            "SELECT count(DISTINCT query_id) FROM system.history.queries \
             WHERE query LIKE '%{marker}%' AND query NOT LIKE '%system.history%'"
        ),
    )
    .await;
    assert_eq!(ids[0][0].as_deref(), Some("5"), "query ids are unique");
}

#[test]
fn a_crash_loses_no_history_the_audit_trail_holds() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = test_config(seeded_data_dir());
    config.finops.history.dir = Some(dir.path().join("history").display().to_string());
    config.audit.path = Some(dir.path().join("audit.jsonl").display().to_string());
    // Nothing would be committed before shutdown.
    config.finops.history.flush_seconds = 3600;
    let marker = format!("crash-{}", std::process::id());

    // A gateway runs three queries and dies: its runtime is torn down, no shutdown.
    let crashed = {
        let (config, marker) = (config.clone(), marker.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let instance = runtime.block_on(async {
                let gw = TestGateway::start_with(config).await;
                let demo = gw.connect().await;
                for n in 0..3 {
                    demo.simple_query(&format!(
                        "SELECT max(r_name) /* {marker} {n} */ FROM lake.tpch.region"
                    ))
                    .await
                    .expect("query");
                }
                gw.gateway.service().instance().to_string()
            });
            runtime.shutdown_timeout(std::time::Duration::from_secs(30));
            instance
        })
        .join()
        .expect("crashed gateway thread")
    };
    let lease = dir
        .path()
        .join("history/instances")
        .join(format!("{crashed}.lock"));
    assert!(lease.exists(), "the dead gateway's lease is left behind");
    let data = dir.path().join("history/warehouse/history/queries/data");
    assert!(!data.exists(), "nothing was committed before the crash");

    // The next start replays them from the audit trail, once.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let gw = TestGateway::start_with(config.clone()).await;
        assert!(!lease.exists(), "the dead gateway's lease is cleared");
        let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
        let rows = query_text(
            &auditor,
            &format!(
                "SELECT query_id, status, rows_returned, files_scanned, cost > 0 \
                 FROM system.history.queries WHERE query LIKE '%{marker}%' \
                 AND query NOT LIKE '%system.history%' ORDER BY query_id"
            ),
        )
        .await;
        assert_eq!(rows.len(), 3, "{rows:?}");
        for row in &rows {
            assert!(
                row[0].as_deref().is_some_and(|id| id.starts_with(&crashed)),
                "{row:?}"
            );
            assert_eq!(
                &row[1..],
                [Some("finished"), Some("1"), Some("1"), Some("t")].map(|v| v.map(String::from))
            );
        }
        drop(auditor);
        gw.gateway.shutdown().await;
        // A clean shutdown commits everything and gives its lease up.
        let leases = std::fs::read_dir(dir.path().join("history/instances"))
            .expect("leases")
            .count();
        assert_eq!(leases, 0);

        // A second start finds nothing to replay: still exactly three.
        let gw = TestGateway::start_with(config).await;
        let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
        let count = query_text(
            &auditor,
            &format!(
                "SELECT count(*) FROM system.history.queries WHERE query LIKE '%{marker}%' \
                 AND query NOT LIKE '%system.history%'"
            ),
        )
        .await;
        assert_eq!(count[0][0].as_deref(), Some("3"));
    });
}

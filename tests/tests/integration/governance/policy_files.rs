//! Policy files: start-up errors, type errors in filters, hot reload that keeps the last
//! good policy.

use std::path::Path;
use std::time::{Duration, Instant};

use lakegate_gateway::server::Gateway;
use lakegate_tests::{TestGateway, seeded_data_dir, test_config};

const BASE: &str = "g, analyst, role:analyst\n\
    p, role:analyst, lake.tpch.*, select, allow\n";

fn write_policy(dir: &Path, text: &str) -> String {
    let path = dir.join("policy.csv");
    std::fs::write(&path, text).expect("write policy");
    path.display().to_string()
}

async fn start_with_policy(text: &str) -> (anyhow::Result<Gateway>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = test_config(seeded_data_dir());
    config.security.policy = Some(write_policy(dir.path(), text));
    config.security.reload_seconds = 1;
    (Gateway::start(config, false).await, dir)
}

#[tokio::test]
async fn a_bad_policy_at_start_up_is_fatal_and_named() {
    let (result, _dir) = start_with_policy(&format!(
        "{BASE}p, role:analyst, lake.tpch.*, selekt, allow\n"
    ))
    .await;
    let err = format!("{:#}", result.expect_err("bad action"));
    assert!(
        err.contains("policy.csv:3") && err.contains("selekt"),
        "{err}"
    );

    let (result, _dir) = start_with_policy(&format!(
        "{BASE}p2, role:analyst, lake.tpch.nope, \"x = 1\"\n"
    ))
    .await;
    let err = format!("{:#}", result.expect_err("missing table"));
    assert!(
        err.contains("lake.tpch.nope") && err.contains("does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn rules_that_can_never_apply_are_start_up_errors_naming_their_line() {
    // A row filter on a role without a select grant of its own: today's rule would be
    // ignored, and role:child would read every row through role:parent's grant.
    let (result, _dir) = start_with_policy(
        "g, analyst, role:child\n\
         g, role:child, role:parent\n\
         p, role:parent, lake.tpch.*, select, allow\n\
         p2, role:child, lake.tpch.orders, \"o_orderkey < 100\"\n",
    )
    .await;
    let err = format!("{:#}", result.expect_err("filter without a grant"));
    assert!(
        err.contains("policy.csv:4") && err.contains("never applies"),
        "{err}"
    );
    // A mask for a subject that cannot read the table at all.
    let (result, _dir) = start_with_policy(&format!(
        "{BASE}p3, role:analyst, system.audit.events.sql, mask, redact\n"
    ))
    .await;
    let err = format!("{:#}", result.expect_err("mask without a grant"));
    assert!(
        err.contains("policy.csv:3") && err.contains("never applies"),
        "{err}"
    );
    // The same lines with their grants load.
    let (result, _dir) = start_with_policy(&format!(
        "{BASE}p2, role:analyst, lake.tpch.orders, \"o_orderkey < 100\"\n\
         p3, role:analyst, lake.tpch.customer.c_phone, mask, redact\n"
    ))
    .await;
    result.expect("rules with grants load");
}

#[tokio::test]
async fn a_filter_that_does_not_type_check_names_its_rule() {
    let (result, _dir) = start_with_policy(&format!(
        "{BASE}p2, role:analyst, lake.tpch.region, \"r_name + 1\"\n"
    ))
    .await;
    let gw = TestGateway {
        gateway: result.expect("starts"),
    };
    let analyst = gw.connect_as("analyst", "analyst").await.expect("login");
    let err = analyst
        .simple_query("SELECT * FROM region")
        .await
        .expect_err("bad filter");
    let db = err.as_db_error().expect("db error");
    assert_eq!(db.code().code(), "F0000");
    assert!(db.message().contains("policy.csv:3"), "{}", db.message());
    // Other tables still work.
    analyst
        .simple_query("SELECT count(*) FROM nation")
        .await
        .expect("unaffected table");
}

#[tokio::test]
async fn policy_changes_apply_without_restart_and_bad_reloads_keep_the_last_good() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_policy(
        dir.path(),
        &format!("{BASE}p2, role:analyst, lake.tpch.region, \"r_name = 'EUROPE'\"\n"),
    );
    let mut config = test_config(seeded_data_dir());
    config.security.policy = Some(path.clone());
    config.security.reload_seconds = 1;
    let gw = TestGateway::start_with(config).await;
    let analyst = gw.connect_as("analyst", "analyst").await.expect("login");
    let regions = |client: tokio_postgres::Client| async move {
        let rows = client
            .query("SELECT r_name FROM region ORDER BY 1", &[])
            .await
            .expect("query");
        let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        (client, names)
    };
    let (analyst, names) = regions(analyst).await;
    assert_eq!(names, vec!["EUROPE"]);

    std::fs::write(
        &path,
        format!("{BASE}p2, role:analyst, lake.tpch.region, \"r_name = 'ASIA'\"\n"),
    )
    .expect("rewrite");
    // The watcher checks every second; wait for the change, bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut analyst = analyst;
    loop {
        let (client, names) = regions(analyst).await;
        analyst = client;
        if names == vec!["ASIA"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "policy was not reloaded: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A broken file is refused and the last good policy stays.
    std::fs::write(&path, "p, this line is broken\n").expect("break");
    let err = gw
        .gateway
        .service()
        .policy()
        .reload()
        .await
        .expect_err("broken policy");
    let err = err.to_string();
    assert!(err.contains("policy.csv:1"), "{err}");
    let (_analyst, names) = regions(analyst).await;
    assert_eq!(names, vec!["ASIA"]);
}

fn reload_request(credentials: Option<&str>) -> String {
    policy_request("/policy/reload", credentials)
}

fn policy_request(target: &str, credentials: Option<&str>) -> String {
    use base64::Engine;
    let auth = credentials
        .map(|c| {
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
        })
        .unwrap_or_default();
    format!(
        "POST {target} HTTP/1.1\r\nHost: gw\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

#[tokio::test]
async fn the_admin_endpoint_reloads_for_admins_only() {
    let dir = tempfile::tempdir().expect("dir");
    let admin_line = "g, admin, role:admin\np, role:admin, *.*.*, admin, allow\n";
    let path = write_policy(
        dir.path(),
        &format!("{BASE}{admin_line}p2, role:analyst, lake.tpch.region, \"r_name = 'EUROPE'\"\n"),
    );
    let mut config = test_config(seeded_data_dir());
    config.security.policy = Some(path.clone());
    config.security.reload_seconds = 0;
    let gw = TestGateway::start_with(config).await;
    let addr = gw.gateway.admin_addr().expect("admin endpoint");
    assert_eq!(
        lakegate_tests::http_request(
            addr,
            "GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
        )
        .await
        .0,
        200
    );

    std::fs::write(
        &path,
        format!("{BASE}{admin_line}p2, role:analyst, lake.tpch.region, \"r_name = 'ASIA'\"\n"),
    )
    .expect("rewrite");
    assert_eq!(
        lakegate_tests::http_request(addr, &reload_request(None))
            .await
            .0,
        401
    );
    assert_eq!(
        lakegate_tests::http_request(addr, &reload_request(Some("admin:wrong")))
            .await
            .0,
        401
    );
    assert_eq!(
        lakegate_tests::http_request(addr, &reload_request(Some("analyst:analyst")))
            .await
            .0,
        403
    );
    let analyst = gw.connect_as("analyst", "analyst").await.expect("login");
    let region: String = analyst
        .query_one("SELECT r_name FROM region", &[])
        .await
        .expect("before")
        .get(0);
    assert_eq!(region, "EUROPE", "not reloaded yet (watcher disabled)");
    assert_eq!(
        lakegate_tests::http_request(addr, &reload_request(Some("admin:admin")))
            .await
            .0,
        200
    );
    let region: String = analyst
        .query_one("SELECT r_name FROM region", &[])
        .await
        .expect("after")
        .get(0);
    assert_eq!(region, "ASIA");

    std::fs::write(&path, "p, broken\n").expect("break");
    let (status, body) =
        lakegate_tests::http_request(addr, &reload_request(Some("admin:admin"))).await;
    assert_eq!(status, 422);
    assert!(body.contains("policy.csv:1"), "{body}");
}

/// A bad but valid policy goes live through a reload; the versions table shows both,
/// and a rollback restores the first, with queries before and after.
#[tokio::test]
async fn a_bad_policy_is_rolled_back_to_an_earlier_version() {
    let dir = tempfile::tempdir().expect("dir");
    let admin_line = "g, admin, role:admin\np, role:admin, *.*.*, admin, allow\n\
                      p, role:admin, *.*.*, select, allow\n";
    let good =
        format!("{BASE}{admin_line}p2, role:analyst, lake.tpch.region, \"r_name = 'EUROPE'\"\n");
    let path = write_policy(dir.path(), &good);
    let mut config = test_config(seeded_data_dir());
    config.security.policy = Some(path.clone());
    config.security.reload_seconds = 0;
    let gw = TestGateway::start_with(config).await;
    let addr = gw.gateway.admin_addr().expect("admin endpoint");
    let analyst = gw.connect_as("analyst", "analyst").await.expect("login");
    let admin = gw.connect_as("admin", "admin").await.expect("login");
    let count = "SELECT count(*) FROM region";
    let visible = |rows: Vec<tokio_postgres::Row>| rows[0].get::<_, i64>(0);
    assert_eq!(visible(analyst.query(count, &[]).await.expect("before")), 1);

    // The bad policy: the analyst's filter dropped by mistake.
    std::fs::write(&path, format!("{BASE}{admin_line}")).expect("rewrite");
    let (status, _) =
        lakegate_tests::http_request(addr, &reload_request(Some("admin:admin"))).await;
    assert_eq!(status, 200);
    assert_eq!(visible(analyst.query(count, &[]).await.expect("bad")), 5);
    let versions = admin
        .query(
            "SELECT version, loaded_by, current, length(sha256) FROM system.security.policy_versions ORDER BY version",
            &[],
        )
        .await
        .expect("versions");
    let listed: Vec<(i64, String, bool, i32)> = versions
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        listed,
        vec![
            (1, "start".to_string(), false, 64),
            (2, "reload by admin".to_string(), true, 64)
        ]
    );

    // Only admins roll back, to a version that exists.
    let rollback = |version: &str, who: Option<&'static str>| {
        policy_request(&format!("/policy/rollback?version={version}"), who)
    };
    assert_eq!(
        lakegate_tests::http_request(addr, &rollback("1", Some("analyst:analyst")))
            .await
            .0,
        403
    );
    assert_eq!(
        lakegate_tests::http_request(addr, &rollback("9", Some("admin:admin")))
            .await
            .0,
        422
    );
    let (status, body) =
        lakegate_tests::http_request(addr, &rollback("1", Some("admin:admin"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"version\":3"), "{body}");
    assert_eq!(visible(analyst.query(count, &[]).await.expect("after")), 1);
    let current: String = admin
        .query_one(
            "SELECT loaded_by FROM system.security.policy_versions WHERE current",
            &[],
        )
        .await
        .expect("current")
        .get(0);
    assert_eq!(current, "rollback to 1 by admin");
}

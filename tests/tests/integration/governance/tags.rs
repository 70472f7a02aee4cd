//! Tag-based column policies: columns classified in a tags file beside the policy
//! (`config/tags.csv` for the demo), and policy lines that mask or deny by tag. A table
//! created after start whose column matches a tagged pattern is masked on its first
//! query, on both protocols; catalogs show a column's tags to those who may read it;
//! editing the tags file applies without a restart.

use std::time::{Duration, Instant};

use arrow::array::AsArray;
use lakegate_tests::{TestGateway, query_text as rows, seed_new_data_dir, test_config};

use crate::flight::sql::run;

/// SHA-256 of `text`, in hex (the `hash` mask).
fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_tagged_column_of_a_table_created_after_start_is_masked_on_its_first_query() {
    let dir = seed_new_data_dir("lakegate-tags-");
    let gw = TestGateway::start_with(test_config(&dir)).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    admin
        .simple_query(
            "CREATE TABLE lake.tpch.contacts AS \
             SELECT c_custkey AS id, c_name || '@example.com' AS work_email, c_phone AS phone \
             FROM lake.tpch.customer WHERE c_custkey <= 3",
        )
        .await
        .expect("create");
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    // work_email matches `lake.*.*.*email*, PII`: hashed by `tag:PII`; phone has no tag.
    let seen = rows(
        &analyst,
        "SELECT id, work_email, phone FROM lake.tpch.contacts ORDER BY id",
    )
    .await;
    let stored = rows(
        &admin,
        "SELECT id, work_email, phone FROM lake.tpch.contacts ORDER BY id",
    )
    .await;
    assert_eq!(seen.len(), 3);
    for (seen, stored) in seen.iter().zip(&stored) {
        let email = stored[1].clone().expect("email");
        assert_eq!(
            seen[1].as_deref(),
            Some(sha256_hex(&email).as_str()),
            "{seen:?}"
        );
        assert_eq!(seen[2], stored[2], "an untagged column is as stored");
    }
    // A predicate over the masked column sees the mask, not the value.
    let leaked = rows(
        &analyst,
        "SELECT count(*) FROM lake.tpch.contacts WHERE work_email LIKE '%@example.com'",
    )
    .await;
    assert_eq!(leaked[0][0].as_deref(), Some("0"));
    // A named rule beats a tag rule: c_phone is tagged PII but keeps show-last-4.
    let phone = rows(&analyst, "SELECT c_phone FROM lake.tpch.customer LIMIT 1").await;
    assert!(
        phone[0][0]
            .as_deref()
            .unwrap_or_default()
            .starts_with("XXX"),
        "{phone:?}"
    );
    // Flight SQL: the same mask.
    let mut flight = gw.flight_as("analyst", "analyst").await.expect("flight");
    let batches = run(
        &mut flight,
        "SELECT work_email FROM lake.tpch.contacts ORDER BY id",
    )
    .await
    .expect("flight");
    let text = arrow::compute::cast(batches[0].column(0), &arrow::datatypes::DataType::Utf8)
        .expect("text");
    let first = text.as_string::<i32>().value(0).to_string();
    assert_eq!(Some(first), stored[0][1].as_deref().map(sha256_hex));
    // The admin reads values as stored.
    assert!(
        stored[0][1]
            .as_deref()
            .unwrap_or_default()
            .ends_with("@example.com")
    );

    // Catalogs: the analyst sees the tags of the columns they may read …
    let described = rows(
        &analyst,
        "SELECT a.attname, d.description FROM pg_catalog.pg_description d \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = d.objoid AND a.attnum = d.objsubid \
         JOIN pg_catalog.pg_class c ON c.oid = d.objoid \
         WHERE c.relname IN ('contacts', 'customer') ORDER BY 1",
    )
    .await;
    assert_eq!(
        described,
        vec![
            vec![Some("c_phone".into()), Some("tags: PII".into())],
            vec![Some("work_email".into()), Some("tags: PII".into())],
        ],
        "c_acctbal (FINANCIAL) is denied to the analyst, so are its tags"
    );
    // … the admin those of every column; the auditor, who reads no TPC-H table, none.
    let all = rows(
        &admin,
        "SELECT count(*) FROM pg_catalog.pg_description WHERE description = 'tags: FINANCIAL'",
    )
    .await;
    assert_eq!(all[0][0].as_deref(), Some("2"));
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    let none = rows(
        &auditor,
        "SELECT count(*) FROM pg_catalog.pg_description WHERE description LIKE 'tags:%'",
    )
    .await;
    assert_eq!(none[0][0].as_deref(), Some("0"));
}

#[tokio::test]
async fn tags_and_tag_rules_reload_with_the_policy_and_bad_ones_name_their_line() {
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.csv");
    std::fs::write(
        &policy,
        "g, analyst, role:analyst\n\
         p, role:analyst, lake.tpch.*, select, allow\n\
         p, admin, lake.tpch.*, select, allow\n\
         p3, role:analyst, tag:SECRET, deny\n",
    )
    .expect("policy");
    let tags = dir.path().join("tags.csv");
    std::fs::write(&tags, "lake.tpch.nation.n_comment, SECRET\n").expect("tags");
    let mut config = test_config(lakegate_tests::seeded_data_dir());
    config.security.policy = Some(policy.display().to_string());
    config.security.reload_seconds = 1;
    let gw = TestGateway::start_with(config.clone()).await;
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let code = |e: tokio_postgres::Error| e.code().map(|c| c.code().to_string());
    // Denied by tag: left out of SELECT *, 42501 when named.
    let star = rows(&analyst, "SELECT * FROM lake.tpch.nation LIMIT 1").await;
    assert_eq!(star[0].len(), 3, "n_comment is left out: {star:?}");
    let err = analyst
        .simple_query("SELECT n_comment FROM lake.tpch.nation")
        .await
        .expect_err("denied by tag");
    assert_eq!(code(err), Some("42501".into()));
    // Retagged: r_comment now, n_comment no longer, from the next statement.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&tags, "lake.tpch.region.r_comment, SECRET\n").expect("tags");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let named = analyst
            .simple_query("SELECT n_comment FROM lake.tpch.nation LIMIT 1")
            .await;
        if named.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the tags file was not reloaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = analyst
        .simple_query("SELECT r_comment FROM lake.tpch.region")
        .await
        .expect_err("r_comment is SECRET now");
    assert_eq!(code(err), Some("42501".into()));
    drop(gw);

    // A rule by a tag no column carries never applies: a load error naming its line;
    // a bad tags line names the tags file's line.
    std::fs::write(&tags, "lake.tpch.region.r_comment, OTHER\n").expect("tags");
    let err = lakegate_gateway::server::Gateway::start(config.clone(), false)
        .await
        .expect_err("SECRET is no column's tag");
    let err = format!("{err:#}");
    assert!(
        err.contains("policy.csv:4") && err.contains("SECRET"),
        "{err}"
    );
    std::fs::write(&tags, "lake.tpch.region, SECRET\n").expect("tags");
    let err = lakegate_gateway::server::Gateway::start(config, false)
        .await
        .expect_err("a bad tags line");
    let err = format!("{err:#}");
    assert!(err.contains("tags.csv:1"), "{err}");
}

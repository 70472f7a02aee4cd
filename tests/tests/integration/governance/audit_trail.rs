//! The audit trail fails closed: when its file cannot be written, no statement's
//! result completes, the client gets an error naming the trail, and the server keeps
//! serving.

use lakegate_tests::{TestGateway, seeded_data_dir, test_config};

/// The server's message of a failed statement.
fn message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| error.to_string())
}

#[tokio::test]
async fn results_are_withheld_when_the_audit_trail_cannot_be_written() {
    let mut config = test_config(seeded_data_dir());
    // Every write to /dev/full fails (ENOSPC); opening it succeeds.
    config.audit.path = Some("/dev/full".into());
    config.finops.history.enabled = false;
    let gw = TestGateway::start_with(config).await;
    let client = gw.connect().await;
    for sql in [
        "SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = 7",
        "SET search_path = tpch",
    ] {
        let error = client.simple_query(sql).await.expect_err(sql);
        assert!(message(&error).contains("audit trail"), "{sql}: {error:?}");
    }
    // The extended protocol too, and the connection is still usable afterwards.
    let error = client
        .query("SELECT count(*) FROM lake.tpch.region", &[])
        .await
        .expect_err("withheld");
    assert!(message(&error).contains("audit trail"), "{error:?}");
    let error = client
        .simple_query("SELECT 1")
        .await
        .expect_err("still withheld");
    assert!(message(&error).contains("audit trail"), "{error:?}");
}

/// Waits until `/readyz` answers `status`; returns its body.
async fn until_ready_is(gw: &TestGateway, status: u16) -> String {
    let start = std::time::Instant::now();
    loop {
        let (code, body) = gw.admin_get("/readyz").await;
        if code == status {
            return body;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "/readyz still {code} ({body}), not {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_trail_that_becomes_unwritable_refuses_statements_until_it_recovers() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("audit");
    let path = dir.join("audit.jsonl");
    let mut config = test_config(seeded_data_dir());
    config.audit.path = Some(path.display().to_string());
    // Rotated every few records, so the trail is reopened soon after it is lost.
    config.audit.max_bytes = 1024;
    config.finops.history.enabled = false;
    let gw = TestGateway::start_with(config).await;
    let client = gw.connect().await;
    let count = "SELECT count(*) FROM lake.tpch.region";
    client.simple_query(count).await.expect("audited");
    assert_eq!(gw.admin_get("/readyz").await.0, 200);

    // The trail's directory is lost: a file stands where it was (root ignores modes).
    std::fs::rename(&dir, root.path().join("moved")).expect("move the trail away");
    std::fs::write(&dir, b"not a directory").expect("block the trail");
    let mut failed = None;
    for _ in 0..20 {
        if let Err(error) = client.simple_query(count).await {
            failed = Some(error);
            break;
        }
    }
    let error = failed.expect("a statement fails once the trail cannot be written");
    assert!(message(&error).contains("audit trail"), "{error:?}");
    let body = until_ready_is(&gw, 503).await;
    assert!(body.contains("audit trail"), "{body}");
    // Refused before running, with 58030, on both protocols.
    let error = client.simple_query(count).await.expect_err("refused");
    assert_eq!(error.code().map(|c| c.code()), Some("58030"), "{error:?}");
    assert!(
        message(&error).contains("refused until it can be written"),
        "{error:?}"
    );
    let mut flight = gw.flight().await;
    let refused = match flight.execute(count.to_string(), None).await {
        Err(error) => error.to_string(),
        Ok(info) => {
            let ticket = info.endpoint[0].ticket.clone().expect("ticket");
            match flight.do_get(ticket).await {
                Err(error) => error.to_string(),
                Ok(mut stream) => {
                    use futures::StreamExt;
                    let item = stream.next().await.expect("an item");
                    item.expect_err("Flight SQL refused too").to_string()
                }
            }
        }
    };
    assert!(
        refused.contains("unavailable") && refused.contains("audit trail"),
        "{refused}"
    );

    // Storage comes back: ready again within seconds without a statement, and the
    // trail says since when it could not be written.
    std::fs::remove_file(&dir).expect("unblock the trail");
    until_ready_is(&gw, 200).await;
    let rows = client.simple_query(count).await.expect("served again");
    assert!(!rows.is_empty());
    // The trail rotates every few records: the marker may be in a rotated file.
    let text: String = std::fs::read_dir(&dir)
        .expect("the trail's directory")
        .map(|entry| std::fs::read_to_string(entry.expect("entry").path()).expect("a trail file"))
        .collect();
    let resumed = text
        .lines()
        .find(|line| line.contains("trail_resumed"))
        .expect("a trail_resumed record");
    assert!(resumed.contains("could not be written from"), "{resumed}");
}

/// One client cannot flood the trail with its statements: SQL text and error messages
/// are cut at `max_sql_bytes` (the full SQL's hash beside it), and the trail's hash
/// chain verifies after statements from several sessions.
#[tokio::test]
async fn long_statements_are_cut_and_the_trail_verifies() {
    let root = tempfile::tempdir().expect("temp dir");
    let path = root.path().join("audit.jsonl");
    let mut config = test_config(seeded_data_dir());
    config.audit.path = Some(path.display().to_string());
    config.audit.max_sql_bytes = 1024;
    config.finops.history.enabled = false;
    let gw = TestGateway::start_with(config).await;
    let client = gw.connect().await;
    let padding = "x".repeat(200_000);
    let long = format!("SELECT length('{padding}') AS n");
    client
        .simple_query(&long)
        .await
        .expect("a long statement runs");
    let failing = format!("SELECT nope_{padding}");
    client
        .simple_query(&failing)
        .await
        .expect_err("unknown column");
    let other = gw.connect().await;
    other.simple_query("SELECT 1").await.expect("short");

    let events =
        lakegate_security::audit::read_since(&path, std::time::UNIX_EPOCH).expect("read the trail");
    let cut: Vec<_> = events.iter().filter(|e| e.sql_truncated).collect();
    assert_eq!(cut.len(), 2, "{events:?}");
    for event in &cut {
        let sql = event.sql.as_deref().unwrap_or_default();
        assert!(
            sql.len() < 1100 && sql.ends_with('…'),
            "{} bytes",
            sql.len()
        );
        assert_eq!(event.sql_sha256.as_deref().map(str::len), Some(64));
        let error = event.error.as_deref().unwrap_or_default();
        assert!(error.len() < 1100, "error of {} bytes", error.len());
    }
    let verified = lakegate_security::audit::verify(&path).expect("the chain holds");
    assert!(
        verified.records >= 3 && verified.from_genesis,
        "{verified:?}"
    );
}

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

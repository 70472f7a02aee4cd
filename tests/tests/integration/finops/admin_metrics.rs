//! The admin endpoint's Prometheus metrics, health and readiness, read over HTTP while
//! a client is connected.

use lakegate_tests::{TestGateway, metric_value as value};

#[tokio::test]
async fn metrics_count_queries_bytes_cost_and_connections() {
    let gw = TestGateway::start().await;
    assert_eq!(gw.admin_get("/healthz").await.0, 200);
    assert_eq!(gw.admin_get("/readyz").await, (200, "ready\n".into()));
    let client = gw.connect().await;
    for _ in 0..3 {
        client
            .simple_query("SELECT max(n_name) FROM lake.tpch.nation")
            .await
            .expect("query");
    }
    client
        .simple_query("SELECT * FROM lake.tpch.missing")
        .await
        .expect_err("missing");
    let (status, metrics) = gw.admin_get("/metrics").await;
    assert_eq!(status, 200);
    let finished = value(
        &metrics,
        "lakegate_queries_total{protocol=\"postgres\",status=\"finished\"}",
    );
    assert!(finished >= 3.0, "{metrics}");
    assert!(
        value(
            &metrics,
            "lakegate_queries_total{protocol=\"postgres\",status=\"failed\"}"
        ) >= 1.0
    );
    let count = value(
        &metrics,
        "lakegate_query_duration_seconds_count{protocol=\"postgres\"}",
    );
    let inf = value(
        &metrics,
        "lakegate_query_duration_seconds_bucket{protocol=\"postgres\",le=\"+Inf\"}",
    );
    assert_eq!(count, inf);
    assert!(count >= 4.0);
    // Three scans of nation's names: the first reads the footer too, the others find it
    // in the metadata cache and read the column chunk alone.
    assert!(
        value(&metrics, "lakegate_bytes_scanned_total") >= 3.0 * 300.0,
        "{metrics}"
    );
    assert!(value(&metrics, "lakegate_cost_total") > 0.0);
    assert!(
        value(
            &metrics,
            "lakegate_active_connections{protocol=\"postgres\"}"
        ) >= 1.0
    );
    assert_eq!(value(&metrics, "lakegate_queued_queries"), 0.0);
    assert_eq!(value(&metrics, "lakegate_running_queries"), 0.0);
    drop(client);

    // A Flight SQL client's connection is counted while it is open.
    let flight_series = "lakegate_active_connections{protocol=\"flight-sql\"}";
    let flight = gw.flight().await;
    let (_, metrics) = gw.admin_get("/metrics").await;
    assert_eq!(value(&metrics, flight_series), 1.0, "{metrics}");
    drop(flight);
    let mut closed = false;
    for _ in 0..100 {
        let (_, metrics) = gw.admin_get("/metrics").await;
        if value(&metrics, flight_series) == 0.0 {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        closed,
        "the closed Flight SQL connection is no longer counted"
    );
}

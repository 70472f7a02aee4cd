//! The admin endpoint's Prometheus metrics, health and readiness, read over HTTP while
//! a client is connected.

use lakegate_tests::TestGateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GETs `path` from the admin endpoint: (status code, body).
pub(crate) async fn get(gw: &TestGateway, path: &str) -> (u16, String) {
    let addr = gw.gateway.admin_addr().expect("admin endpoint");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of the metric line that starts with `series`.
pub(crate) fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

#[tokio::test]
async fn metrics_count_queries_bytes_cost_and_connections() {
    let gw = TestGateway::start().await;
    assert_eq!(get(&gw, "/healthz").await.0, 200);
    assert_eq!(get(&gw, "/readyz").await, (200, "ready\n".into()));
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
    let (status, metrics) = get(&gw, "/metrics").await;
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
    let (_, metrics) = get(&gw, "/metrics").await;
    assert_eq!(value(&metrics, flight_series), 1.0, "{metrics}");
    drop(flight);
    let mut closed = false;
    for _ in 0..100 {
        let (_, metrics) = get(&gw, "/metrics").await;
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

//! Clients that stop reading or vanish mid-result. A client that never reads a large
//! result holds only a bounded amount of the server's memory (backpressure from the
//! socket reaches the scan); a client killed mid-stream, or while its query is still
//! computing, has its query cancelled: gone from `system.runtime.queries` and holding no
//! pool memory within seconds.
//!
//! Its own test binary: it measures the process's resident memory, which the other
//! integration tests would disturb.

use std::time::{Duration, Instant};

use lakegate_tests::raw_client::{RawClient, cstr, message};
use lakegate_tests::{TestGateway, metric_value, query_text, seeded_data_dir, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 60,175 line items × 25 nations: 1.5 M rows, about 300 MB as text rows.
const LARGE: &str = "SELECT l.*, n.n_name, n.n_comment /* slow-client */ \
                     FROM lake.tpch.lineitem l CROSS JOIN lake.tpch.nation n";
/// An aggregation of 1.5 M rows that computes for seconds before its first row.
const SLOW: &str = "SELECT l_comment, n_name, count(*), sum(l_quantity) /* vanishing-client */ \
                    FROM lake.tpch.lineitem CROSS JOIN lake.tpch.nation \
                    GROUP BY l_comment, n_name ORDER BY 3 DESC, 1, 2 LIMIT 5";

/// The process's resident set, in bytes (the gateway runs in it).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// A raw authenticated socket that has sent `sql` as a simple Query.
async fn send_query(gw: &TestGateway, sql: &str) -> TcpStream {
    let client = RawClient::connect(gw.gateway.pg_addr(), "demo", "demo", "lake")
        .await
        .expect("raw client");
    let (mut socket, _) = client.into_parts();
    let mut body = Vec::new();
    cstr(&mut body, sql);
    socket
        .write_all(&message(b'Q', &body))
        .await
        .expect("send query");
    socket
}

/// The states of the queries whose text holds `marker`, as the admin sees them.
async fn listed(admin: &tokio_postgres::Client, marker: &str) -> Vec<String> {
    query_text(
        admin,
        &format!(
            "SELECT state FROM system.runtime.queries WHERE query LIKE '%{marker}%' \
             AND query NOT LIKE '%system.runtime%'"
        ),
    )
    .await
    .into_iter()
    .filter_map(|mut row| row.swap_remove(0))
    .collect()
}

/// Waits until `marker`'s query is listed as running.
async fn until_running(admin: &tokio_postgres::Client, marker: &str) {
    let start = Instant::now();
    while !listed(admin, marker).await.iter().any(|s| s == "running") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{marker} never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `marker`'s query is gone and the pool holds nothing; returns how long
/// that took.
async fn until_released(
    gw: &TestGateway,
    admin: &tokio_postgres::Client,
    marker: &str,
) -> Duration {
    let start = Instant::now();
    loop {
        let (_, metrics) = gw.admin_get("/metrics").await;
        let reserved = metric_value(&metrics, "lakegate_memory_reserved_bytes ");
        let still = listed(admin, marker).await;
        if still.is_empty() && reserved == 0.0 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{marker}: still listed {still:?} with {reserved} bytes reserved after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_or_vanish_hold_bounded_memory_and_are_cancelled() {
    let mut config = test_config(seeded_data_dir());
    config.pg.client_connection_check_ms = 200;
    let gw = TestGateway::start_with(config).await;
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    // Warm: the tables' metadata and footers are cached before memory is measured.
    let warm = gw.connect().await;
    warm.simple_query("SELECT count(*) FROM lake.tpch.lineitem, lake.tpch.nation")
        .await
        .expect("warm up");

    // A client that reads nothing of a 300 MB result.
    let before = rss();
    let stalled = send_query(&gw, LARGE).await;
    until_running(&admin, "slow-client").await;
    let mut grown = 0;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        grown = grown.max(rss().saturating_sub(before));
    }
    eprintln!(
        "a client reading nothing of a 300 MB result: the process grew by {:.1} MiB",
        grown as f64 / (1 << 20) as f64
    );
    assert!(
        grown < 96 << 20,
        "the server buffered {grown} bytes for a client that reads nothing"
    );
    assert_eq!(
        listed(&admin, "slow-client").await,
        ["running"],
        "held, not cancelled"
    );
    // Then it vanishes: unread data makes the close a reset.
    drop(stalled);
    let took = until_released(&gw, &admin, "slow-client").await;
    eprintln!("the stalled client's query was released {took:?} after it vanished");

    // A client killed while reading.
    let mut reading = send_query(&gw, LARGE).await;
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0;
    while read < 4 << 20 {
        let n = reading.read(&mut buf).await.expect("read");
        assert!(n > 0, "the server closed the stream");
        read += n;
    }
    drop(reading);
    let took = until_released(&gw, &admin, "slow-client").await;
    eprintln!("a client killed mid-stream: its query was released after {took:?}");

    // A client gone while its query computes, before the first row.
    let start = Instant::now();
    warm.simple_query(SLOW).await.expect("the slow query");
    let full = start.elapsed();
    let computing = send_query(&gw, SLOW).await;
    until_running(&admin, "vanishing-client").await;
    drop(computing);
    let took = until_released(&gw, &admin, "vanishing-client").await;
    eprintln!(
        "a client gone before its first row: its query (which takes {full:?}) was released \
         after {took:?}"
    );
    assert!(took < full / 2, "the query ran on for {took:?} of {full:?}");

    // Everyone else is still served.
    let rows = query_text(&warm, "SELECT count(*) FROM lake.tpch.nation").await;
    assert_eq!(rows, [[Some("25".to_string())]]);
}

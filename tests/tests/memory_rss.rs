//! The process's resident memory under `[query] memory_limit`, read from /proc while
//! eight sessions start aggregations together that need more than the limit:
//! they wait for memory grants (four at a time) and spill, every one answers, and the
//! process grows by no more than the limit plus a stated margin (allocator slack,
//! decoded Parquet pages and batches in flight, which the pool does not count). Its own
//! test binary, so that no other test's memory is counted.

use std::time::Duration;

use lakegate_gateway::byte_size::ByteSize;
use lakegate_tests::{TestGateway, seed_data_dir_at, test_config};

/// What the process may hold beyond the limit: measured 178–294 MiB with eight
/// aggregations (two partitions each, four running at once), about 70 MiB per running
/// spilling query that the pool does not count.
const MARGIN: u64 = 448 << 20;

/// Sessions running at once.
const SESSIONS: usize = 8;

/// Resident bytes of this process, from /proc/self/status.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .expect("VmRSS")
}

/// Hash aggregations only: a sort under a small per-query limit can fail in the
/// SortPreservingMergeExec above it, which cannot spill and finds the query's pool taken
/// by the sorts' spillable buffers (a Known limit in the README).
const AGGREGATE: &str = "SELECT l_orderkey, l_partkey, count(*), sum(l_quantity) \
                         FROM lake.tpch.lineitem GROUP BY l_orderkey, l_partkey";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_memory_stays_under_the_limit_plus_a_margin_while_queries_spill() {
    // As the gateway's main does (the test runs the gateway in its own process).
    lakegate_gateway::malloc::cap_arenas(2);
    let data = seed_data_dir_at("lakegate-rss-", 0.1);
    let limit: u64 = 128 << 20;
    let mut config = test_config(&data);
    config.query.memory_limit = ByteSize::Bytes(limit);
    config.query.per_query_memory_limit = Some(ByteSize::Bytes(32 << 20));
    let gw = TestGateway::start_with(config).await;
    // Warm: catalogs open, metadata cached, the runtime's threads started.
    let warm = gw.connect().await;
    warm.simple_query("SELECT count(*) FROM lake.tpch.lineitem")
        .await
        .expect("warm");
    let baseline = rss();

    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(baseline));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let client = gw.connect().await;
        let sql = AGGREGATE;
        sessions.push(tokio::spawn(async move {
            let rows = client
                .simple_query(sql)
                .await
                .map(|messages| messages.len())
                .map_err(|e| {
                    e.as_db_error()
                        .map_or_else(|| e.to_string(), |d| d.message().to_string())
                });
            (sql, rows)
        }));
    }
    let mut answered = 0;
    for session in sessions {
        let (sql, rows) = session.await.expect("session");
        match rows {
            Ok(_) => answered += 1,
            Err(message) => panic!("{sql}: {message}"),
        }
    }
    sampler.abort();
    let grew = peak.load(std::sync::atomic::Ordering::Relaxed) - baseline;
    eprintln!(
        "{SESSIONS} spilling queries under a {} MiB memory_limit: resident memory grew by {} MiB \
         (baseline {} MiB)",
        limit >> 20,
        grew >> 20,
        baseline >> 20
    );
    assert_eq!(answered, SESSIONS);
    // Four grants of a quarter of the pool run at once; the others waited (a wait for
    // memory is queue time).
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let waited: i64 = admin
        .query_one(
            "SELECT count(*) FROM system.history.queries \
             WHERE queue_ms > 100 AND query = $1",
            &[&AGGREGATE],
        )
        .await
        .expect("history")
        .get(0);
    eprintln!("{waited} of {SESSIONS} waited for their memory grant");
    assert!(
        waited >= (SESSIONS / 2) as i64,
        "only {waited} of {SESSIONS} queries waited for memory"
    );
    assert!(
        grew < limit + MARGIN,
        "resident memory grew by {} MiB, more than the {} MiB limit plus {} MiB",
        grew >> 20,
        limit >> 20,
        MARGIN >> 20
    );
}

//! The caches of immutable metadata, in a test binary of their own (the caches and their
//! counters belong to the process, so no other test may read metadata meanwhile): the
//! first query after a start may read a table's metadata file, manifest list, manifests
//! and Parquet footers from storage; the second, the same or another query over the same
//! snapshot, reads none of them nor parses its manifests again (its metadata file is not
//! even looked up while the catalog lists the same one), and `/metrics` says so.

use lakegate_tests::{TestGateway, metric_value, seeded_data_dir, test_config};

/// (hits, misses) of one cache in `/metrics`.
async fn counts(gw: &TestGateway, cache: &str) -> (f64, f64) {
    let (status, metrics) = gw.admin_get("/metrics").await;
    assert_eq!(status, 200);
    (
        metric_value(
            &metrics,
            &format!("lakegate_metadata_cache_hits_total{{cache=\"{cache}\"}}"),
        ),
        metric_value(
            &metrics,
            &format!("lakegate_metadata_cache_misses_total{{cache=\"{cache}\"}}"),
        ),
    )
}

#[tokio::test]
async fn the_second_query_reads_no_metadata_from_storage() {
    let mut config = test_config(seeded_data_dir());
    // Nothing written in the background: no new metadata to read meanwhile.
    config.audit.enabled = false;
    config.finops.history.enabled = false;
    let gw = TestGateway::start_with(config).await;
    let client = gw.connect().await;
    let queries = [
        "SELECT max(l_comment), min(l_shipdate) FROM lake.tpch.lineitem \
         WHERE l_shipdate >= DATE '1995-01-01'",
        "SELECT max(l_comment), min(l_shipdate) FROM lake.tpch.lineitem \
         WHERE l_shipdate >= DATE '1995-01-01'",
        "SELECT l_returnflag, sum(l_quantity) FROM lake.tpch.lineitem GROUP BY 1",
    ];
    let mut answers = Vec::new();
    let mut figures = Vec::new();
    let mut snapshots = Vec::new();
    for sql in queries {
        let rows = client.simple_query(sql).await.expect("query");
        answers.push(format!("{:?}", lakegate_tests::text_rows(&rows)));
        figures.push((
            counts(&gw, "iceberg_metadata").await,
            counts(&gw, "parquet_footers").await,
        ));
        snapshots.push(counts(&gw, "iceberg_snapshots").await);
    }
    assert_eq!(answers[0], answers[1], "a cached read answers alike");
    let ((_, metadata_misses), (_, footer_misses)) = figures[0];
    for ((metadata_hits, misses), (footer_hits, footers_missed)) in &figures[1..] {
        assert_eq!(
            *misses, metadata_misses,
            "Iceberg metadata read from storage again: {figures:?}"
        );
        assert_eq!(
            *footers_missed, footer_misses,
            "Parquet footers read from storage again: {figures:?}"
        );
        // The metadata file of a table whose catalog still lists it is not read at
        // all (the table loaded before is reused): no new miss, and no new hit needed.
        assert!(*metadata_hits >= figures[0].0.0, "{figures:?}");
        assert!(*footer_hits > figures[0].1.0, "{figures:?}");
    }
    // The snapshot's manifests are parsed by the first query only.
    let (first_hits, first_misses) = snapshots[0];
    assert!(first_misses >= 1.0, "{snapshots:?}");
    for (i, (hits, misses)) in snapshots.iter().enumerate().skip(1) {
        assert_eq!(*misses, first_misses, "parsed again: {snapshots:?}");
        assert!(*hits >= first_hits + i as f64, "{snapshots:?}");
    }
}

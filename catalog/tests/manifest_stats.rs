//! Iceberg scans carry the manifests' statistics (iceberg/manifest_stats.rs), seen
//! through the crate's public API over a freshly seeded table.

use std::sync::Arc;

use datafusion::common::stats::Precision;
use datafusion::scalar::ScalarValue;

/// A seeded table's native scan carries the manifests' figures: exact rows,
/// inexact bounds and null counts, per file and in total.
#[tokio::test]
async fn a_native_scan_has_the_manifests_statistics() {
    use datafusion::catalog::TableProvider;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use lakegate_catalog::iceberg::{LakeCatalog, MeteredIcebergTable, NativeIcebergScan};
    use lakegate_catalog::seed::{SeedOptions, seed_tpch};
    use lakegate_catalog::{CatalogConfig, CatalogType};

    let dir = tempfile::tempdir().expect("temporary directory");
    let config = CatalogConfig {
        name: "lake".into(),
        kind: CatalogType::IcebergSql,
        warehouse: dir.path().join("warehouse").display().to_string(),
        uri: None,
        password_env: None,
        pushdown: None,
        location: None,
        format: None,
        ..Default::default()
    };
    let lake = LakeCatalog::open_sql(&config).await.expect("catalog");
    let options = SeedOptions {
        scale_factor: 0.001,
        schema: "tpch".into(),
        force: false,
        progress: false,
    };
    seed_tpch(&lake, &options).await.expect("seed");
    let table = lake
        .load_table("tpch", "nation")
        .await
        .expect("load")
        .expect("nation");
    let provider = MeteredIcebergTable::try_new(table, lake.iceberg())
        .await
        .expect("provider");
    let ctx = SessionContext::new_with_config(
        SessionConfig::new().with_extension(Arc::new(NativeIcebergScan(true))),
    );
    let plan = provider
        .scan(&ctx.state(), None, &[], None)
        .await
        .expect("scan");
    let statistics = plan.partition_statistics(None).expect("statistics");
    assert_eq!(statistics.num_rows, Precision::Exact(25));
    let key = &statistics.column_statistics[0];
    assert_eq!(
        key.min_value,
        Precision::Inexact(ScalarValue::Int64(Some(0)))
    );
    assert_eq!(
        key.max_value,
        Precision::Inexact(ScalarValue::Int64(Some(24)))
    );
    assert_eq!(key.null_count, Precision::Inexact(0));
    assert!(matches!(key.byte_size, Precision::Inexact(n) if n > 0));
    let name = &statistics.column_statistics[1];
    assert!(
        matches!(name.min_value.get_value(), Some(v) if v.to_string() == "ALGERIA"),
        "{name:?}"
    );
}

//! Catalogs that cannot open stop start-up with the catalog named and the reason: an
//! unreachable Iceberg REST catalog or PostgreSQL server, a missing directory, a bad
//! option, a name used twice.

use lakegate_catalog::{CatalogConfig, CatalogType};
use lakegate_gateway::server::Gateway;
use lakegate_tests::{seeded_data_dir, test_config};

/// The start-up error of a gateway with `extra` next to the lakehouse.
async fn start_error(extra: CatalogConfig) -> String {
    let mut config = test_config(seeded_data_dir());
    let mut catalogs = config.effective_catalogs();
    catalogs.push(extra);
    config.catalogs = catalogs;
    match Gateway::start(config, false).await {
        Ok(_) => panic!("the gateway started"),
        Err(e) => format!("{e:#}"),
    }
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

#[tokio::test]
async fn catalogs_that_cannot_open_are_named_with_the_reason() {
    let port = closed_port();
    let rest = start_error(CatalogConfig {
        name: "polaris".into(),
        kind: CatalogType::IcebergRest,
        uri: Some(format!("http://127.0.0.1:{port}/api/catalog")),
        ..Default::default()
    })
    .await;
    // Named, with where the failure happened (connecting, or listing namespaces).
    assert!(
        rest.contains("polaris") && (rest.contains("connect") || rest.contains("listing")),
        "{rest}"
    );
    let no_uri = start_error(CatalogConfig {
        name: "polaris".into(),
        kind: CatalogType::IcebergRest,
        ..Default::default()
    })
    .await;
    assert!(no_uri.contains("needs `uri`"), "{no_uri}");

    let postgres = start_error(CatalogConfig {
        name: "crm".into(),
        kind: CatalogType::Postgres,
        uri: Some(format!(
            "host=127.0.0.1 port={port} user=postgres dbname=crm"
        )),
        ..Default::default()
    })
    .await;
    assert!(
        postgres.contains("crm") && postgres.contains("connecting"),
        "{postgres}"
    );

    let missing = start_error(CatalogConfig {
        name: "files".into(),
        kind: CatalogType::Files,
        location: Some("/nonexistent/lakegate-exports".into()),
        ..Default::default()
    })
    .await;
    assert!(
        missing.contains("files") && missing.contains("/nonexistent"),
        "{missing}"
    );
    let option = start_error(CatalogConfig {
        name: "files".into(),
        kind: CatalogType::Files,
        location: Some("s3://bucket/prefix".into()),
        options: [("aws_no_such_option".to_string(), "x".to_string())].into(),
        ..Default::default()
    })
    .await;
    assert!(option.contains("aws_no_such_option"), "{option}");

    let delta = start_error(CatalogConfig {
        name: "deltas".into(),
        kind: CatalogType::Delta,
        ..Default::default()
    })
    .await;
    assert!(
        delta.contains("deltas") && delta.contains("needs `location`"),
        "{delta}"
    );
    let delta = start_error(CatalogConfig {
        name: "deltas".into(),
        kind: CatalogType::Delta,
        location: Some("/nonexistent/lakegate-deltas".into()),
        ..Default::default()
    })
    .await;
    assert!(delta.contains("/nonexistent"), "{delta}");

    let s3_warehouse = start_error(CatalogConfig {
        name: "s3lake".into(),
        kind: CatalogType::IcebergSql,
        warehouse: "s3://bucket/warehouse".into(),
        ..Default::default()
    })
    .await;
    assert!(
        s3_warehouse.contains("s3lake") && s3_warehouse.contains("needs `uri`"),
        "{s3_warehouse}"
    );

    let twice = start_error(CatalogConfig {
        name: "lake".into(),
        kind: CatalogType::Files,
        location: Some("/tmp".into()),
        ..Default::default()
    })
    .await;
    assert!(twice.contains("defined twice"), "{twice}");

    // Versioned tables are cached by their snapshot: a TTL there is a mistake.
    let ttl = start_error(CatalogConfig {
        name: "deltas".into(),
        kind: CatalogType::Delta,
        location: Some("/tmp".into()),
        results_cache_seconds: Some(60),
        ..Default::default()
    })
    .await;
    assert!(
        ttl.contains("deltas") && ttl.contains("results_cache_seconds is for postgres and files"),
        "{ttl}"
    );
}

//! SQL behaviour as data: every `.slt` file under `tests/slt/` run by sqllogictest over
//! a test gateway, once in-process (the `QueryService` frontends call) and once over
//! the Postgres wire, so both paths give the same rows and the same SQLSTATEs.
//!
//! One test per folder, each with the gateway its files need:
//! - `tpch/`: the 22 TPC-H queries at scale factor 0.1 with DuckDB's answers
//!   (numbers compared within 1e-9, relative);
//! - `security/`: grants, row filters and masks as the demo users see them;
//! - `pg_catalog/`: the catalog queries drivers and BI tools send;
//! - `pg_functions/`: PostgreSQL's functions where DataFusion's namesakes differ;
//! - `queries/`: answers of queries that once went wrong;
//! - `errors/`: statements that fail, with their SQLSTATEs;
//! - `semantic/`: the demo semantic models queried as tables;
//! - `time_travel/`: writes and reads of snapshots (a data directory per run).
//!
//! `\connect USER` switches the connection to another demo user (see db.rs). Run one
//! folder with `cargo test -p lakegate-tests --test integration slt::security`.

mod db;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use db::{GatewayDb, Mode};
use lakegate_tests::{TestGateway, seed_data_dir_at, seed_new_data_dir, test_config};

/// The `.slt` files of folder `name`, sorted.
fn files(name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt").join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    files
}

/// Equal text, or numbers within 1e-9 of each other, relative to the larger.
fn same_value(ours: &str, theirs: &str) -> bool {
    ours == theirs
        || match (ours.parse::<f64>(), theirs.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => false,
        }
}

/// Rows compared value by value (whitespace-separated), numbers with a tolerance.
fn tolerant(
    normalizer: sqllogictest::Normalizer,
    actual: &[Vec<String>],
    expected: &[String],
) -> bool {
    let actual: Vec<String> = actual
        .iter()
        .map(|row| row.iter().map(normalizer).collect::<Vec<_>>().join(" "))
        .collect();
    actual.len() == expected.len()
        && actual.iter().zip(expected).all(|(ours, theirs)| {
            let ours: Vec<&str> = ours.split_whitespace().collect();
            let theirs: Vec<&str> = theirs.split_whitespace().collect();
            ours.len() == theirs.len() && ours.iter().zip(&theirs).all(|(a, b)| same_value(a, b))
        })
}

/// Runs every file of folder `name` against `gateway` in `mode`, as the demo user.
async fn run_folder(name: &str, gateway: Arc<TestGateway>, mode: Mode) {
    for file in files(name) {
        let gateway = gateway.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let gateway = gateway.clone();
            async move { GatewayDb::connect(gateway, mode, "demo").await }
        });
        // `SLT_COMPLETE=1` writes the wire's results into the files (review the diff);
        // the in-process run then checks them.
        if mode == Mode::Wire && std::env::var_os("SLT_COMPLETE").is_some() {
            runner
                .update_test_file(
                    &file,
                    " ",
                    tolerant,
                    sqllogictest::default_normalizer,
                    |_, _| true,
                )
                .await
                .unwrap_or_else(|e| panic!("completing {}: {e}", file.display()));
            continue;
        }
        runner.with_validator(tolerant);
        runner.with_column_validator(|_, _| true);
        if let Err(error) = runner.run_file_async(&file).await {
            panic!("{mode:?}, {}:\n{error}", file.display());
        }
    }
}

/// Wire first when completing files (its results are written), in-process first
/// otherwise.
fn modes() -> [Mode; 2] {
    if std::env::var_os("SLT_COMPLETE").is_some() {
        [Mode::Wire, Mode::InProcess]
    } else {
        [Mode::InProcess, Mode::Wire]
    }
}

/// Runs folder `name` in both modes, each on a gateway over the data `dir` gives.
/// Over the wire the results cache is on and the folder runs twice: the second run's
/// cacheable queries are answered from the cache, and must give the same answers.
async fn both_modes(name: &str, config: impl Fn() -> lakegate_gateway::config::Config) {
    for mode in modes() {
        let mut config = config();
        if mode == Mode::Wire {
            config.cache = lakegate_gateway::config::CacheConfig::default();
        }
        let gateway = Arc::new(TestGateway::start_with(config).await);
        run_folder(name, gateway.clone(), mode).await;
        if mode == Mode::Wire && std::env::var_os("SLT_COMPLETE").is_none() {
            run_folder(name, gateway.clone(), mode).await;
            // Folders of queries over tables (not catalog views) do hit.
            if ["tpch", "security", "queries", "semantic"].contains(&name) {
                let (_, metrics) = gateway.admin_get("/metrics").await;
                let hits =
                    lakegate_tests::metric_value(&metrics, "lakegate_results_cache_hits_total");
                assert!(hits > 0.0, "{name}: the second run hit the cache");
            }
        }
    }
}

/// The data directory of the read-only folders: seeded for them alone, since the
/// integration tests that share this process create schemas and tables in the common
/// seeded directory, and the catalog folders list what is there.
fn slt_data_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| seed_new_data_dir("lakegate-slt-"))
}

#[tokio::test]
async fn tpch() {
    let dir = seed_data_dir_at("lakegate-slt-tpch-", 0.1);
    both_modes("tpch", || {
        let mut config = test_config(&dir);
        config.seed.scale_factor = 0.1;
        config
    })
    .await;
}

#[tokio::test]
async fn security() {
    both_modes("security", || test_config(slt_data_dir())).await;
}

#[tokio::test]
async fn pg_catalog() {
    both_modes("pg_catalog", || test_config(slt_data_dir())).await;
}

#[tokio::test]
async fn pg_functions() {
    both_modes("pg_functions", || test_config(slt_data_dir())).await;
}

#[tokio::test]
async fn queries() {
    both_modes("queries", || test_config(slt_data_dir())).await;
}

#[tokio::test]
async fn errors() {
    both_modes("errors", || test_config(slt_data_dir())).await;
}

#[tokio::test]
async fn semantic() {
    // The demo models over the seeded tables are served by default.
    both_modes("semantic", || test_config(slt_data_dir())).await;
}

#[tokio::test]
async fn time_travel() {
    // Each run writes: a data directory of its own.
    for mode in modes() {
        let dir = seed_new_data_dir("lakegate-slt-time-travel-");
        let gateway = Arc::new(TestGateway::start_with(test_config(&dir)).await);
        run_folder("time_travel", gateway, mode).await;
    }
}

//! All 22 TPC-H queries at scale factor 0.1 through Postgres wire give the reference
//! answers DuckDB computed over the same Parquet data files (`tests/tpch/answers/`),
//! every row, numbers within 1e-9 relative: a faster plan can never be a wrong one.

use std::path::Path;

use lakegate_tests::{TestGateway, seed_data_dir_at, test_config, text_rows, tpch_query};

/// The scale factor the committed answers were computed at.
const ANSWERS_SCALE_FACTOR: f64 = 0.1;

fn reference(n: usize) -> Vec<Vec<Option<String>>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tpch/answers/q{n}.tsv"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            line.split('\t')
                .map(|v| (v != "\\N").then(|| v.to_string()))
                .collect()
        })
        .collect()
}

/// Equal text, or numbers within 1e-9 of each other, relative to the larger.
fn same(ours: &Option<String>, theirs: &Option<String>) -> bool {
    match (ours, theirs) {
        (Some(a), Some(b)) if a != b => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => false,
        },
        (a, b) => a == b,
    }
}

/// Both Iceberg readers: Iceberg's own, and DataFusion's Parquet scan over the files
/// Iceberg plans (`[query] native_iceberg_scan`).
#[tokio::test]
async fn every_tpch_query_gives_the_reference_answer() {
    let dir = seed_data_dir_at("lakegate-tpch-answers-", ANSWERS_SCALE_FACTOR);
    let mut wrong = Vec::new();
    for native in [false, true] {
        let mut config = test_config(&dir);
        config.seed.scale_factor = ANSWERS_SCALE_FACTOR;
        config.query.native_iceberg_scan = native;
        // Joins reordered with one reader, as written with the other.
        config.query.join_reordering = native;
        let gw = TestGateway::start_with(config).await;
        let reader = if native {
            "native scan"
        } else {
            "Iceberg reader"
        };
        wrong.extend(reductions(&gw).await);
        wrong.extend(join_order(&gw, native).await);
        wrong.extend(
            differences(&gw)
                .await
                .into_iter()
                .map(|d| format!("{reader}: {d}")),
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The queries whose correlated aggregates are computed only for the keys that join
/// (the planner's semi-join reduction), so that their answers are checked here: those
/// that are not.
async fn reductions(gw: &TestGateway) -> Vec<String> {
    let client = gw.connect().await;
    let mut missing = Vec::new();
    for n in [2, 17, 20] {
        let explain = format!("EXPLAIN {}", tpch_query(n));
        let plan = text_rows(&client.simple_query(&explain).await.expect("explain"));
        if !format!("{plan:?}").contains("__semi_join_keys") {
            missing.push(format!("Q{n} is not reduced: {plan:?}"));
        }
    }
    missing
}

/// Q5 joins `region` first where joins are reordered, `customer` and `orders` first
/// where they are not: what is wrong with that.
async fn join_order(gw: &TestGateway, reordered: bool) -> Vec<String> {
    let client = gw.connect().await;
    let explain = format!("EXPLAIN {}", tpch_query(5));
    let rows = text_rows(&client.simple_query(&explain).await.expect("explain"));
    let logical = rows
        .iter()
        .find(|r| r.first().cloned().flatten().as_deref() == Some("logical_plan"))
        .and_then(|r| r.get(1).cloned().flatten())
        .unwrap_or_default();
    let deepest = logical
        .lines()
        .filter(|l| l.contains(" Join: "))
        .max_by_key(|l| l.len() - l.trim_start().len())
        .unwrap_or_default();
    let expected = if reordered {
        "r_regionkey"
    } else {
        "o_custkey"
    };
    match deepest.contains(expected) {
        true => Vec::new(),
        false => vec![format!(
            "Q5 (joins reordered: {reordered}) does not join on {expected} first:\n{logical}"
        )],
    }
}

/// The queries whose answers differ from the reference.
async fn differences(gw: &TestGateway) -> Vec<String> {
    let client = gw.connect().await;
    let mut wrong = Vec::new();
    for n in 1..=22 {
        let messages = client
            .simple_query(&tpch_query(n))
            .await
            .unwrap_or_else(|e| panic!("Q{n}: {e}"));
        let ours = text_rows(&messages);
        let theirs = reference(n);
        if ours.len() != theirs.len() {
            wrong.push(format!(
                "Q{n}: {} rows, reference {}",
                ours.len(),
                theirs.len()
            ));
            continue;
        }
        let differing = ours.iter().zip(&theirs).enumerate().find(|(_, (a, b))| {
            a.len() != b.len() || a.iter().zip(b.iter()).any(|(x, y)| !same(x, y))
        });
        if let Some((row, (a, b))) = differing {
            wrong.push(format!("Q{n} row {row}: {a:?}, reference {b:?}"));
        }
    }
    wrong
}

//! TPC-H Q1, Q3 and Q6 over Postgres wire return what DataFusion returns reading the
//! same Parquet data files directly.

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use lakegate_catalog::tpch::TABLES;
use lakegate_tests::{TestGateway, query_text, seeded_data_dir, tpch_query};

async fn direct(sql: &str) -> Vec<Vec<String>> {
    // Decimal constants are `numeric`, as in the gateway (and PostgreSQL).
    let config =
        SessionConfig::new().set_bool("datafusion.sql_parser.parse_float_as_decimal", true);
    let ctx = SessionContext::new_with_config(config);
    for table in TABLES {
        let dir = seeded_data_dir()
            .join("warehouse/tpch")
            .join(table.name())
            .join("data");
        ctx.register_parquet(
            table.name(),
            format!("{}/", dir.display()),
            ParquetReadOptions::default(),
        )
        .await
        .expect("register parquet");
    }
    let batches = ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).expect("fmt"))
            .collect();
        for r in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    rows
}

async fn over_wire(gw: &TestGateway, sql: &str) -> Vec<Vec<String>> {
    let client = gw.connect().await;
    client
        .batch_execute("SET search_path = tpch")
        .await
        .expect("search_path");
    query_text(&client, sql)
        .await
        .into_iter()
        .map(|row| row.into_iter().map(Option::unwrap_or_default).collect())
        .collect()
}

/// Equal, or equal numbers. The gateway averages numerics as PostgreSQL does (16 or
/// more significant digits); plain DataFusion keeps the input's scale plus 4 and
/// truncates, so its value is allowed its last digit.
fn same_value(wire: &str, direct: &str) -> bool {
    if wire == direct {
        return true;
    }
    match (wire.parse::<f64>(), direct.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            let decimals = direct.split_once('.').map_or(0, |(_, f)| f.len());
            let last_digit = 10f64.powi(-i32::try_from(decimals).unwrap_or(0));
            (x - y).abs() <= (1e-9 * x.abs().max(y.abs()).max(1.0)).max(last_digit)
        }
        _ => false,
    }
}

async fn check(n: usize, expected_rows: usize) {
    let gw = TestGateway::start().await;
    let sql = tpch_query(n);
    let wire = over_wire(&gw, &sql).await;
    let reference = direct(&sql).await;
    assert_eq!(wire.len(), expected_rows, "Q{n} row count");
    assert_eq!(wire.len(), reference.len(), "Q{n} rows");
    for (i, (w, r)) in wire.iter().zip(&reference).enumerate() {
        assert_eq!(w.len(), r.len(), "Q{n} row {i} width");
        for (a, b) in w.iter().zip(r) {
            assert!(same_value(a, b), "Q{n} row {i}: wire {w:?} vs direct {r:?}");
        }
    }
}

#[tokio::test]
async fn q1_matches_direct_parquet() {
    check(1, 4).await;
}

#[tokio::test]
async fn q3_matches_direct_parquet() {
    check(3, 10).await;
}

#[tokio::test]
async fn q6_matches_direct_parquet() {
    check(6, 1).await;
}

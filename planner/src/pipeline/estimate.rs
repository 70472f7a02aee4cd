//! `EXPLAIN COST <query>` and `SET gateway.dry_run = on`: the query is planned, its scans
//! are estimated from Iceberg manifests (lakegate_catalog::estimate), and the estimate
//! is returned instead of the rows. No data file is opened.
//!
//! DataFusion's parser has no `EXPLAIN COST`; parse.rs reads it and marks the
//! statement as an EXPLAIN whose format is [`COST_FORMAT`].

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::parser::{ExplainStatement, Statement as DFStatement};
use lakegate_catalog::estimate::ScanEstimate;

use crate::PriceList;
use crate::session::Session;

/// The EXPLAIN format that marks `EXPLAIN COST`.
pub(crate) const COST_FORMAT: &str = "lakegate_cost";

/// `EXPLAIN COST` around `statement`.
pub(crate) fn explain_cost(statement: DFStatement) -> DFStatement {
    DFStatement::Explain(ExplainStatement {
        analyze: false,
        verbose: false,
        format: Some(COST_FORMAT.into()),
        statement: Box::new(statement),
    })
}

/// The query an `EXPLAIN COST` estimates.
pub(crate) fn cost_target(statement: &DFStatement) -> Option<&DFStatement> {
    match statement {
        DFStatement::Explain(explain) if explain.format.as_deref() == Some(COST_FORMAT) => {
            Some(explain.statement.as_ref())
        }
        _ => None,
    }
}

/// Whether the session returns estimates instead of rows.
pub(crate) fn dry_run(session: &Session) -> bool {
    session
        .settings
        .get("gateway.dry_run")
        .is_ok_and(|v| v == "on")
}

/// The columns of an estimate: one row per table scan, then the total.
pub(crate) fn estimate_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("files", DataType::Int64, false),
        Field::new("files_pruned", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("cost", DataType::Float64, false),
    ]))
}

/// The estimate as rows, priced for the bytes to scan (CPU is not known before).
pub(crate) fn estimate_batch(
    estimate: &ScanEstimate,
    prices: &PriceList,
) -> datafusion::error::Result<RecordBatch> {
    let price = |bytes: u64| bytes as f64 / 1e12 * prices.per_tb_scanned;
    let mut names: Vec<String> = estimate.tables.iter().map(|t| t.table.clone()).collect();
    let mut files: Vec<i64> = estimate.tables.iter().map(|t| t.files as i64).collect();
    let mut pruned: Vec<i64> = estimate
        .tables
        .iter()
        .map(|t| t.files_pruned as i64)
        .collect();
    let mut bytes: Vec<i64> = estimate.tables.iter().map(|t| t.bytes as i64).collect();
    let mut rows: Vec<i64> = estimate.tables.iter().map(|t| t.rows as i64).collect();
    let mut cost: Vec<f64> = estimate.tables.iter().map(|t| price(t.bytes)).collect();
    names.push("(total)".into());
    files.push(estimate.files() as i64);
    pruned.push(estimate.files_pruned() as i64);
    bytes.push(estimate.bytes() as i64);
    rows.push(estimate.rows() as i64);
    cost.push(price(estimate.bytes()));
    Ok(RecordBatch::try_new(
        estimate_schema(),
        vec![
            Arc::new(StringArray::from(names)),
            Arc::new(Int64Array::from(files)),
            Arc::new(Int64Array::from(pruned)),
            Arc::new(Int64Array::from(bytes)),
            Arc::new(Int64Array::from(rows)),
            Arc::new(Float64Array::from(cost)),
        ],
    )?)
}

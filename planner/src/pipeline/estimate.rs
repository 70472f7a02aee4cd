//! Stage 3, estimate: `EXPLAIN COST <query>` and `SET gateway.dry_run = on`: the query is planned, its scans
//! are estimated from Iceberg manifests (lakegate_catalog::estimate), and the estimate
//! is returned instead of the rows. No data file is opened.
//!
//! Also the budget and scan-limit checks, which need the same estimate.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lakegate_catalog::estimate::ScanEstimate;
use lakegate_security::policy::StatisticsMode;

use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;

use crate::PriceList;
use crate::pipeline::admit::Admitted;
use crate::pipeline::engine::Engine;
use crate::pipeline::plan::Planned;
use crate::session::Session;
use crate::{ErrorKind, QueryError, Result};

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
        Field::new("rows", DataType::Int64, true),
        Field::new("cost", DataType::Float64, false),
    ]))
}

/// The estimate as rows, priced for the bytes to scan (CPU is not known before).
/// `withhold_rows`: the row counts are NULL (they would count a row filter's hidden
/// rows).
pub(crate) fn estimate_batch(
    estimate: &ScanEstimate,
    prices: &PriceList,
    withhold_rows: bool,
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
    let mut rows: Vec<Option<i64>> = estimate
        .tables
        .iter()
        .map(|t| (!withhold_rows).then_some(t.rows as i64))
        .collect();
    let mut cost: Vec<f64> = estimate.tables.iter().map(|t| price(t.bytes)).collect();
    names.push("(total)".into());
    files.push(estimate.files() as i64);
    pruned.push(estimate.files_pruned() as i64);
    bytes.push(estimate.bytes() as i64);
    rows.push((!withhold_rows).then_some(estimate.rows() as i64));
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

/// Stage 3, estimate and budget: a query that asks for its estimate (EXPLAIN COST, a
/// dry run) gets it as its result; a query over its scan limit or over a hard budget is
/// refused. The estimate reads manifests only, so a refused query opens no data file.
/// `row_filtered`: a row filter applied to one of its scans.
pub(crate) async fn check(
    engine: &Engine,
    session: &Session,
    planned: &Planned,
    admitted: &Admitted,
    estimate_only: bool,
    row_filtered: bool,
) -> Result<Option<SendableRecordBatchStream>> {
    if !(estimate_only || admitted.scan_limit.is_some() || admitted.hard_budget) {
        return Ok(None);
    }
    // A result from the results cache scans nothing (and a query that asks for its
    // estimate is never served from it).
    let Some(physical) = planned.physical() else {
        return Ok(None);
    };
    let estimate = lakegate_catalog::estimate::estimate_plan(physical).await?;
    admitted.entry().set_estimate(estimate.bytes());
    if estimate_only {
        // A row filter's hidden rows are counted in the manifests' row counts.
        let withhold_rows = engine.config.statistics == StatisticsMode::Protected && row_filtered;
        let batch = estimate_batch(&estimate, &engine.config.prices, withhold_rows)?;
        let stream = MemoryStream::try_new(vec![batch], estimate_schema(), None)?;
        return Ok(Some(Box::pin(stream)));
    }
    if let Some((limit, subject)) = &admitted.scan_limit
        && estimate.bytes() > *limit
    {
        return Err(QueryError::new(
            ErrorKind::LimitExceeded,
            format!(
                "query would scan an estimated {} bytes in {} files, over the limit of \
                 {limit} bytes per query for {subject}",
                estimate.bytes(),
                estimate.files()
            ),
        ));
    }
    let prices = &engine.config.prices;
    let estimated_cost = estimate.bytes() as f64 / 1e12 * prices.per_tb_scanned;
    engine
        .recorder
        .budgets
        .refresh(
            &session.principal.user,
            &session.principal.roles,
            chrono::Utc::now(),
        )
        .await;
    if let Some(refusal) = engine.recorder.budgets.refusal(
        &session.principal.user,
        &session.principal.roles,
        estimated_cost,
        chrono::Utc::now(),
    ) {
        return Err(QueryError::new(
            ErrorKind::LimitExceeded,
            crate::metering::refusal_message(&refusal, estimated_cost, &prices.unit),
        ));
    }
    Ok(None)
}

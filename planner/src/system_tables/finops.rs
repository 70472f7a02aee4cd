//! `system.finops.cost_by_user`, `cost_by_role` and `cost_by_table`: per-day cost
//! reports over `system.history.queries`, as views. A view is inlined before the
//! security rule runs, so each reader sees the history rows the policy gives them (the
//! demo policy: the auditor every user's, others their own).

use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::catalog::{MemoryCatalogProvider, MemorySchemaProvider, TableProvider};
use datafusion::datasource::ViewTable;
use datafusion::prelude::SessionContext;

use crate::history::store::HistoryStore;
use crate::system_tables::history::HistoryTable;

/// The figures every report sums.
const SUMS: &str = "count(*) AS queries, sum(bytes_scanned) AS bytes_scanned, \
    sum(rows_scanned) AS rows_scanned, sum(cpu_ms) AS cpu_ms, sum(cost) AS cost";

/// The reports, by name, with their SQL.
fn definitions() -> [(&'static str, String); 3] {
    [
        (
            "cost_by_user",
            format!(
                "SELECT CAST(date_trunc('day', ended_at) AS DATE) AS day, user_name, {SUMS} \
                 FROM system.history.queries GROUP BY 1, 2"
            ),
        ),
        // A query counts fully for each role its user held.
        (
            "cost_by_role",
            format!(
                "SELECT day, role_name, {SUMS} FROM (\
                 SELECT CAST(date_trunc('day', ended_at) AS DATE) AS day, \
                 unnest(string_to_array(roles, ',')) AS role_name, bytes_scanned, \
                 rows_scanned, cpu_ms, cost \
                 FROM system.history.queries WHERE roles IS NOT NULL) GROUP BY 1, 2"
            ),
        ),
        // A query's figures are shared equally among the tables it read.
        (
            "cost_by_table",
            "SELECT day, table_name, count(*) AS queries, \
             sum(b / n) AS bytes_scanned, sum(r / n) AS rows_scanned, \
             sum(c / n) AS cpu_ms, sum(p / n) AS cost FROM (\
             SELECT CAST(date_trunc('day', ended_at) AS DATE) AS day, \
             unnest(string_to_array(tables, ',')) AS table_name, \
             CAST(bytes_scanned AS DOUBLE) AS b, CAST(rows_scanned AS DOUBLE) AS r, \
             cpu_ms AS c, cost AS p, \
             CAST(cardinality(string_to_array(tables, ',')) AS DOUBLE) AS n \
             FROM system.history.queries WHERE tables IS NOT NULL) GROUP BY 1, 2"
                .to_string(),
        ),
    ]
}

/// The `finops` schema of the system catalog, its views planned over `history`.
pub async fn finops_schema(history: Arc<HistoryStore>) -> crate::Result<Arc<dyn SchemaProvider>> {
    // The views' scans name `system.history.queries`, the table the policy governs.
    let ctx = SessionContext::new();
    let catalog = MemoryCatalogProvider::new();
    let schema = MemorySchemaProvider::new();
    schema.register_table("queries".into(), Arc::new(HistoryTable::new(history)))?;
    catalog.register_schema("history", Arc::new(schema))?;
    ctx.register_catalog("system", Arc::new(catalog));
    let finops = MemorySchemaProvider::new();
    for (name, sql) in definitions() {
        let plan = ctx.state().create_logical_plan(&sql).await?;
        let view: Arc<dyn TableProvider> = Arc::new(ViewTable::new(plan, Some(sql)));
        finops.register_table(name.into(), view)?;
    }
    Ok(Arc::new(finops))
}

//! Writes into Iceberg tables: `INSERT INTO … SELECT | VALUES` and `CREATE TABLE
//! [AS SELECT]`. Each statement commits one snapshot (none when it writes no rows).
//!
//! `INSERT` is planned by DataFusion into a DML node whose table is the catalog's
//! Iceberg table; the security rule requires `insert` on it. `CREATE TABLE` is planned as
//! a memory table by DataFusion; here it becomes: check `create` on the new name, secure
//! the query, create the Iceberg table with the query's columns, then the same `INSERT`.
//! A CREATE TABLE AS whose query fails drops the table it created.

use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::ExprSchemable;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{
    DdlStatement, DmlStatement, Expr, LogicalPlan, LogicalPlanBuilder, WriteOp, col, lit,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use lakegate_catalog::{CatalogError, CatalogRegistry, WriteError};
use lakegate_security::policy::{Action, PolicyStore};

use crate::session::Session;
use crate::{ErrorKind, QueryError, Result};

/// Which write a statement is, for its command tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// `INSERT`: tag `INSERT 0 n`.
    Insert,
    /// `CREATE TABLE … AS`: tag `SELECT n`, as PostgreSQL.
    CreateAs,
    /// `CREATE TABLE (columns)`: tag `CREATE TABLE`.
    Create,
}

impl WriteKind {
    /// The write `statement` is, if any.
    pub(crate) fn of(statement: &DFStatement) -> Option<Self> {
        match statement {
            DFStatement::Statement(s) => match s.as_ref() {
                SqlStatement::Insert(_) => Some(WriteKind::Insert),
                SqlStatement::CreateTable(create) if create.query.is_some() => {
                    Some(WriteKind::CreateAs)
                }
                SqlStatement::CreateTable(_) => Some(WriteKind::Create),
                _ => None,
            },
            _ => None,
        }
    }

    /// The PostgreSQL command tag after writing `rows`.
    pub fn tag(self, rows: u64) -> String {
        match self {
            WriteKind::Insert => format!("INSERT 0 {rows}"),
            WriteKind::CreateAs => format!("SELECT {rows}"),
            WriteKind::Create => "CREATE TABLE".into(),
        }
    }
}

/// Whether `plan` is a write the gateway performs (possibly under EXPLAIN).
pub(crate) fn is_supported_write(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Dml(DmlStatement {
            op: WriteOp::Insert(InsertOp::Append),
            ..
        }) => true,
        LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(_)) => true,
        LogicalPlan::Explain(explain) => is_supported_write(&explain.plan),
        LogicalPlan::Analyze(analyze) => is_supported_write(&analyze.input),
        _ => false,
    }
}

/// A table created by this statement, to drop if its rows cannot be written.
#[derive(Debug, Clone)]
pub(crate) struct CreatedTable {
    catalog: String,
    schema: String,
    table: String,
}

/// Turns `CREATE TABLE [AS]` into the creation of the Iceberg table and the `INSERT` of
/// its rows; any other plan is returned as it is. `created` is set to the new table.
pub(crate) async fn prepare(
    session: &Session,
    registry: &CatalogRegistry,
    policy: &PolicyStore,
    plan: LogicalPlan,
    created: &mut Option<CreatedTable>,
) -> Result<LogicalPlan> {
    let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) = plan else {
        return Ok(plan);
    };
    let state = session.ctx.state();
    let options = state.config_options();
    let resolved = create.name.clone().resolve(
        &options.catalog.default_catalog,
        &options.catalog.default_schema,
    );
    let full = format!(
        "{}.{}.{}",
        resolved.catalog, resolved.schema, resolved.table
    );
    if create.temporary || create.or_replace {
        return Err(QueryError::new(
            ErrorKind::FeatureNotSupported,
            "CREATE TEMPORARY TABLE and CREATE OR REPLACE TABLE are not supported",
        ));
    }
    if resolved.table.contains('$') {
        return Err(QueryError::new(
            ErrorKind::InvalidParameterValue,
            format!("table name {full} may not contain '$' (it marks metadata tables)"),
        ));
    }
    let lake = registry.get(&resolved.catalog).ok_or_else(|| {
        QueryError::new(
            ErrorKind::FeatureNotSupported,
            format!(
                "cannot create {full}: catalog {} does not take new tables",
                resolved.catalog
            ),
        )
    })?;
    policy.authorize(&session.principal, Action::CreateTable(&full))?;
    // The query is secured before anything is created, so a denied source table
    // leaves nothing behind.
    session
        .rule
        .analyze(create.input.as_ref().clone(), options)?;
    let columns = create.input.schema().as_arrow().clone();
    match lake
        .lake
        .create_table(&resolved.schema, &resolved.table, &columns)
        .await
    {
        Ok(_) => {}
        Err(CatalogError::Write(WriteError::AlreadyExists { .. })) if create.if_not_exists => {
            // PostgreSQL skips the statement: nothing created, no rows written.
            return Ok(LogicalPlanBuilder::empty(true)
                .project(vec![lit(0u64).alias("count")])?
                .build()?);
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(table = %full, user = %session.principal.user, "table created");
    *created = Some(CreatedTable {
        catalog: resolved.catalog.to_string(),
        schema: resolved.schema.to_string(),
        table: resolved.table.to_string(),
    });
    let provider = session.ctx.table_provider(create.name.clone()).await?;
    // Each column cast to the type the table stores it as, by position.
    let target = provider.schema();
    let input = create.input.as_ref().clone();
    let exprs: Vec<Expr> = input
        .schema()
        .columns()
        .into_iter()
        .zip(target.fields())
        .map(|(column, field)| {
            col(column)
                .cast_to(field.data_type(), input.schema())
                .map(|e| e.alias(field.name()))
        })
        .collect::<datafusion::error::Result<_>>()?;
    let input = LogicalPlanBuilder::from(input).project(exprs)?.build()?;
    Ok(LogicalPlanBuilder::insert_into(
        input,
        create.name.clone(),
        provider_as_source(provider),
        InsertOp::Append,
    )?
    .build()?)
}

/// Drops the table a failed CREATE TABLE AS created.
pub(crate) async fn undo_create(registry: &CatalogRegistry, created: CreatedTable) {
    let Some(lake) = registry.get(&created.catalog) else {
        return;
    };
    if let Err(e) = lake.lake.drop_table(&created.schema, &created.table).await {
        tracing::error!(
            error = %e,
            table = %format!("{}.{}.{}", created.catalog, created.schema, created.table),
            "could not drop the table of a failed CREATE TABLE AS"
        );
    }
}

/// The rows a write's stream reports (`count` of each batch, bigint on the way out).
pub(crate) async fn written_rows(
    mut stream: datafusion::execution::SendableRecordBatchStream,
) -> Result<u64> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::UInt64Type;
    use futures::StreamExt;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if let Some(counts) = batch.columns().first() {
            let counts = datafusion::arrow::compute::cast(
                counts,
                &datafusion::arrow::datatypes::DataType::UInt64,
            )
            .map_err(|e| datafusion::error::DataFusionError::ArrowError(Box::new(e), None))?;
            rows += counts
                .as_primitive::<UInt64Type>()
                .iter()
                .flatten()
                .sum::<u64>();
        }
    }
    Ok(rows)
}

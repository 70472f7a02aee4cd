//! The tables a statement's row-filter lookups are planned over: first the ones the
//! statement itself resolved (the same providers, so a lookup reads the snapshot the
//! statement pinned and no table is resolved twice), then any other a lookup names,
//! resolved once through the catalogs and kept for the statement's next lookup. Lookups
//! are planned against these with the session's functions and options.
//!
//! A session keeps each lookup's plan, before its parameters are bound, by its SQL: the
//! next statement only puts its own tables into the kept plan's scans (when their
//! schemas are unchanged), instead of parsing and planning the SQL again.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{
    DataFusionError, ResolvedTableReference, Result, TableReference, plan_datafusion_err,
};
use datafusion::config::ConfigOptions;
use datafusion::datasource::provider_as_source;
use datafusion::execution::SessionState;
use datafusion::logical_expr::planner::{ContextProvider, ExprPlanner, RelationPlanner};
use datafusion::logical_expr::{AggregateUDF, LogicalPlan, ScalarUDF, TableSource, WindowUDF};
use datafusion::sql::planner::{ParserOptions, SqlToRel};

use crate::session::lookup_plans::LookupPlans;

/// Table sources by resolved name, for one statement.
pub(crate) struct LookupTables<'a> {
    state: &'a SessionState,
    tables: HashMap<ResolvedTableReference, Arc<dyn TableSource>>,
    kept: &'a LookupPlans,
}

impl<'a> LookupTables<'a> {
    /// The sources `plan` (subqueries included) already reads.
    pub(crate) fn of_statement(
        state: &'a SessionState,
        plan: &LogicalPlan,
        kept: &'a LookupPlans,
    ) -> Self {
        let mut tables = HashMap::new();
        let _ = plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                tables
                    .entry(resolve(state, scan.table_name.clone()))
                    .or_insert_with(|| Arc::clone(&scan.source));
            }
            Ok(TreeNodeRecursion::Continue)
        });
        Self {
            state,
            tables,
            kept,
        }
    }

    /// Plans `sql` (one query) over the statement's tables, resolving any other table
    /// it names through the catalogs: the session's kept plan of `sql` over this
    /// statement's tables, or a new one.
    pub(crate) async fn plan(&mut self, sql: &str) -> Result<LogicalPlan> {
        if let Some(kept) = self.kept.get(sql)
            && let Some(plan) = self.rebound(kept).await?
        {
            return Ok(plan);
        }
        let options = &self.state.config_options().sql_parser;
        let statement = self.state.sql_to_statement(sql, &options.dialect)?;
        for reference in self.state.resolve_table_references(&statement)? {
            self.source(resolve(self.state, reference)).await?;
        }
        let parser = ParserOptions::from(options);
        let plan = SqlToRel::new_with_options(&*self, parser).statement_to_plan(statement)?;
        self.kept.keep(sql, &plan);
        Ok(plan)
    }

    /// The statement's source of `table`, resolved through the catalogs the first time.
    async fn source(&mut self, table: ResolvedTableReference) -> Result<Arc<dyn TableSource>> {
        if let Some(source) = self.tables.get(&table) {
            return Ok(Arc::clone(source));
        }
        let provider = self
            .state
            .schema_for_ref(table.clone())?
            .table(&table.table)
            .await?
            .ok_or_else(|| plan_datafusion_err!("table '{table}' not found"))?;
        let source = provider_as_source(provider);
        self.tables.insert(table, Arc::clone(&source));
        Ok(source)
    }

    /// A kept plan reading this statement's tables, or `None` when a table's schema
    /// changed since it was planned (then it is planned again).
    async fn rebound(&mut self, kept: LogicalPlan) -> Result<Option<LogicalPlan>> {
        let mut scans = Vec::new();
        let _ = kept.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                scans.push((scan.table_name.clone(), scan.source.schema()));
            }
            Ok(TreeNodeRecursion::Continue)
        });
        let mut now = HashMap::new();
        for (name, schema) in scans {
            let source = self.source(resolve(self.state, name.clone())).await?;
            if source.schema() != schema {
                return Ok(None);
            }
            now.insert(name, source);
        }
        let rebound = kept.transform_up_with_subqueries(|node| match node {
            LogicalPlan::TableScan(mut scan) => match now.get(&scan.table_name) {
                Some(source) => {
                    scan.source = Arc::clone(source);
                    Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
                }
                None => Ok(Transformed::no(LogicalPlan::TableScan(scan))),
            },
            other => Ok(Transformed::no(other)),
        })?;
        Ok(Some(rebound.data))
    }
}

fn resolve(state: &SessionState, reference: TableReference) -> ResolvedTableReference {
    let catalog = &state.config_options().catalog;
    reference.resolve(&catalog.default_catalog, &catalog.default_schema)
}

impl ContextProvider for LookupTables<'_> {
    fn get_table_source(&self, name: TableReference) -> Result<Arc<dyn TableSource>> {
        let name = resolve(self.state, name);
        self.tables
            .get(&name)
            .cloned()
            .ok_or_else(|| plan_datafusion_err!("table '{name}' not found"))
    }

    fn get_table_function_source(
        &self,
        name: &str,
        _args: Vec<datafusion::logical_expr::Expr>,
    ) -> Result<Arc<dyn TableSource>> {
        Err(DataFusionError::Plan(format!(
            "a row filter's lookup cannot call the table function {name}"
        )))
    }

    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        self.state.expr_planners()
    }

    fn get_relation_planners(&self) -> &[Arc<dyn RelationPlanner>] {
        self.state.relation_planners()
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.state.scalar_functions().get(name).cloned()
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.state.aggregate_functions().get(name).cloned()
    }

    fn get_window_meta(&self, name: &str) -> Option<Arc<WindowUDF>> {
        self.state.window_functions().get(name).cloned()
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        self.state.config_options()
    }

    fn udf_names(&self) -> Vec<String> {
        self.state.scalar_functions().keys().cloned().collect()
    }

    fn udaf_names(&self) -> Vec<String> {
        self.state.aggregate_functions().keys().cloned().collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        self.state.window_functions().keys().cloned().collect()
    }
}

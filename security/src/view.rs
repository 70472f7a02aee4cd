//! The principal-filtered catalog: what a principal may see when it lists catalogs,
//! schemas, tables and columns, and the tables it plans against.
//!
//! Tables without a `select` grant are left out of listings (but still resolve, so that
//! naming one gives 42501 from the scan rule rather than a misleading 42P01); denied
//! columns are removed from the table's schema, so `SELECT *` and every catalog view
//! leave them out.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session};
use datafusion::common::Statistics;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::Principal;
use crate::policy::{ColumnAction, PolicyStore};
use crate::rules::RowFilteredTable;

/// A catalog as one principal sees it.
#[derive(Debug)]
pub struct SecuredCatalog {
    name: String,
    inner: Arc<dyn CatalogProvider>,
    principal: Arc<Principal>,
    policy: Arc<PolicyStore>,
}

impl SecuredCatalog {
    /// Wraps `inner`, named `name`, for `principal`.
    pub fn new(
        name: impl Into<String>,
        inner: Arc<dyn CatalogProvider>,
        principal: Arc<Principal>,
        policy: Arc<PolicyStore>,
    ) -> Self {
        Self {
            name: name.into(),
            inner,
            principal,
            policy,
        }
    }
}

impl CatalogProvider for SecuredCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        // A schema is listed when at least one of its tables is readable.
        self.inner
            .schema_names()
            .into_iter()
            .filter(|schema| {
                self.schema(schema)
                    .map(|s| !s.table_names().is_empty())
                    .unwrap_or(false)
            })
            .collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let inner = self.inner.schema(name)?;
        Some(Arc::new(SecuredSchema {
            prefix: format!("{}.{name}", self.name),
            inner,
            principal: self.principal.clone(),
            policy: self.policy.clone(),
        }))
    }
}

#[derive(Debug)]
struct SecuredSchema {
    prefix: String,
    inner: Arc<dyn SchemaProvider>,
    principal: Arc<Principal>,
    policy: Arc<PolicyStore>,
}

#[async_trait]
impl SchemaProvider for SecuredSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let policy = self.policy.current();
        self.inner
            .table_names()
            .into_iter()
            .filter(|t| policy.allows(&*self.principal, &format!("{}.{t}", self.prefix), "select"))
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(inner) = self.inner.table(name).await? else {
            return Ok(None);
        };
        // A pinned version of a table hides the columns the table does.
        let table = format!("{}.{}", self.prefix, crate::policy::governed_table(name).0);
        let policy = self.policy.current();
        let schema = inner.schema();
        let subjects = policy.subjects(&*self.principal);
        let visible: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| {
                !matches!(
                    policy.column_rule_for(&subjects, &table, schema.field(i).name()),
                    Some(rule) if rule.action == ColumnAction::Deny
                )
            })
            .collect();
        if visible.len() == schema.fields().len() {
            return Ok(Some(inner));
        }
        let projected = Arc::new(schema.project(&visible)?);
        Ok(Some(Arc::new(ColumnFilteredTable {
            inner,
            visible,
            schema: projected,
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// The table a principal's view of it reads: `provider` itself, or the table under the
/// row filter and the columns a policy removed (what the data's version is read from).
pub fn base_table(provider: &Arc<dyn TableProvider>) -> &Arc<dyn TableProvider> {
    let provider = match provider.as_any().downcast_ref::<RowFilteredTable>() {
        Some(filtered) => filtered.inner(),
        None => provider,
    };
    match provider.as_any().downcast_ref::<ColumnFilteredTable>() {
        Some(filtered) => &filtered.inner,
        None => provider,
    }
}

/// A table with some columns removed.
#[derive(Debug)]
struct ColumnFilteredTable {
    inner: Arc<dyn TableProvider>,
    /// Indices into the inner schema of the columns kept.
    visible: Vec<usize>,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for ColumnFilteredTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mapped: Vec<usize> = match projection {
            Some(p) => p.iter().map(|&i| self.visible[i]).collect(),
            None => self.visible.clone(),
        };
        self.inner.scan(state, Some(&mapped), filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters only name visible columns, which keep their names in the inner table.
        self.inner.supports_filters_pushdown(filters)
    }

    /// The inner table's row count; its column figures are not carried over.
    fn statistics(&self) -> Option<Statistics> {
        let rows = self.inner.statistics()?.num_rows;
        Some(Statistics::new_unknown(&self.schema).with_num_rows(rows))
    }
}

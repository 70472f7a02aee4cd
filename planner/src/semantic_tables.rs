//! The `semantic` schema: each model listed as a table with its dimensions and measures
//! as columns, so that pg_catalog, information_schema and Flight metadata show it like
//! any table. Queries never scan these tables; they are expanded into SQL over the
//! base tables before planning (see `semantic_layer.rs`).

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::semantic_layer::{SEMANTIC_SCHEMA, SemanticLayer};

/// A catalog with the semantic layer's schema added.
#[derive(Debug)]
pub(crate) struct WithSemanticSchema {
    inner: Arc<dyn CatalogProvider>,
    layer: Arc<SemanticLayer>,
}

impl WithSemanticSchema {
    pub(crate) fn new(inner: Arc<dyn CatalogProvider>, layer: Arc<SemanticLayer>) -> Self {
        Self { inner, layer }
    }
}

impl CatalogProvider for WithSemanticSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names = self.inner.schema_names();
        if !names.iter().any(|n| n == SEMANTIC_SCHEMA) {
            names.push(SEMANTIC_SCHEMA.to_string());
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == SEMANTIC_SCHEMA {
            return Some(Arc::new(SemanticSchema {
                layer: self.layer.clone(),
            }));
        }
        self.inner.schema(name)
    }
}

/// The models in force, as tables.
#[derive(Debug)]
struct SemanticSchema {
    layer: Arc<SemanticLayer>,
}

#[async_trait]
impl SchemaProvider for SemanticSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.layer
            .current()
            .tables
            .iter()
            .filter(|(_, t)| t.is_ok())
            .map(|(name, _)| name.clone())
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let loaded = self.layer.current();
        Ok(match loaded.tables.get(name) {
            Some(Ok(schema)) => Some(Arc::new(SemanticTable {
                name: format!("{}.{SEMANTIC_SCHEMA}.{name}", self.layer.catalog()),
                schema: schema.clone(),
            })),
            _ => None,
        })
    }

    fn table_exist(&self, name: &str) -> bool {
        matches!(self.layer.current().tables.get(name), Some(Ok(_)))
    }
}

/// A model's table: its schema, for catalogs and metadata.
#[derive(Debug)]
struct SemanticTable {
    name: String,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for SemanticTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Every SELECT over a semantic table is expanded before planning; a plan that
        // reaches this table read it some other way.
        Err(DataFusionError::Plan(format!(
            "semantic table {} can only be read by a SELECT with it alone in its FROM",
            self.name
        )))
    }
}

//! The semantic layer in the query path: the models in force (the demo models built
//! into the binary, or a directory named in config, reloaded when its files change),
//! each model's table schema, and the expansion of the statements that read them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{ObjectName, Statement as SqlStatement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use lakegate_catalog::CatalogRegistry;
use lakegate_security::policy::{Action, PolicyStore};
use lakegate_semantic::{QueryErrorKind, SemanticModels};

use crate::error::{ErrorKind, QueryError, Result};

/// The schema that holds the semantic tables, in the layer's catalog.
pub(crate) const SEMANTIC_SCHEMA: &str = "semantic";

/// The demo models over the seeded TPC-H tables, used when no directory is configured.
const BUILTIN: &str = include_str!("../../config/semantic/tpch.yml");

/// Where the models come from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// The demo models built into the binary.
    Builtin,
    /// Every `*.yml` and `*.yaml` file of a directory.
    Dir(PathBuf),
}

/// The models in force and what each serves.
#[derive(Debug)]
pub struct LoadedModels {
    /// The validated models.
    pub models: Arc<SemanticModels>,
    /// Each model's table schema, or why it cannot be served (its base table is
    /// missing, or its SQL does not plan against it).
    pub tables: BTreeMap<String, std::result::Result<SchemaRef, String>>,
}

/// The semantic layer of one gateway.
#[derive(Debug)]
pub struct SemanticLayer {
    catalog: String,
    source: ModelSource,
    current: RwLock<Arc<LoadedModels>>,
}

impl SemanticLayer {
    /// Loads the models and plans each one's table against `registry`. Invalid model
    /// files are an error (the gateway does not start with them).
    pub async fn open(
        catalog: &str,
        source: ModelSource,
        registry: &CatalogRegistry,
    ) -> std::result::Result<Self, String> {
        let models = load(&source)?;
        let loaded = resolve_tables(models, catalog, registry).await;
        Ok(Self {
            catalog: catalog.to_string(),
            source,
            current: RwLock::new(Arc::new(loaded)),
        })
    }

    /// The catalog whose schema `semantic` holds the models.
    pub fn catalog(&self) -> &str {
        &self.catalog
    }

    /// The models in force.
    pub fn current(&self) -> Arc<LoadedModels> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads the models again; on an error the models in force stay.
    pub async fn reload(&self, registry: &CatalogRegistry) -> std::result::Result<(), String> {
        let models = load(&self.source)?;
        let loaded = resolve_tables(models, &self.catalog, registry).await;
        let unavailable: Vec<String> = loaded
            .tables
            .iter()
            .filter_map(|(name, t)| t.as_ref().err().map(|e| format!("{name}: {e}")))
            .collect();
        if !unavailable.is_empty() {
            tracing::warn!(unavailable = ?unavailable, "semantic tables not served");
        }
        tracing::info!(models = loaded.tables.len(), "semantic models loaded");
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
        Ok(())
    }

    /// Reloads the models whenever a file of the directory changes, until the layer is
    /// dropped. Invalid files are logged with their line and field; the models in
    /// force stay until the files are fixed.
    pub fn watch(self: &Arc<Self>, registry: Arc<CatalogRegistry>, every: Duration) {
        let ModelSource::Dir(dir) = &self.source else {
            return;
        };
        let dir = dir.clone();
        let weak = Arc::downgrade(self);
        let mut seen = dir_stamp(&dir);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(layer) = weak.upgrade() else { break };
                let now = dir_stamp(&dir);
                if now == seen {
                    continue;
                }
                seen = now;
                if let Err(e) = layer.reload(&registry).await {
                    tracing::error!(dir = %dir.display(), errors = %e,
                        "semantic models not reloaded; the previous ones stay in force");
                }
            }
        });
    }

    /// Expands every SELECT over a semantic table in `statement`, after checking that
    /// the user may read each semantic table it names. True when one was expanded.
    pub(crate) fn expand(
        &self,
        statement: &mut DFStatement,
        default_catalog: &str,
        user: &lakegate_security::Principal,
        policy: &PolicyStore,
    ) -> Result<bool> {
        let statement = match statement {
            DFStatement::Statement(statement) => statement.as_mut(),
            DFStatement::Explain(explain) => {
                return self.expand(&mut explain.statement, default_catalog, user, policy);
            }
            _ => return Ok(false),
        };
        let loaded = self.current();
        let resolve =
            |name: &ObjectName| resolve_name(&self.catalog, &loaded.models, name, default_catalog);
        let expanded = lakegate_semantic::expand_statement(statement, &loaded.models, &resolve)
            .map_err(semantic_error)?;
        let any = !expanded.is_empty();
        for model in expanded {
            let name = &loaded.models.model(model).name;
            let table = format!("{}.{SEMANTIC_SCHEMA}.{name}", self.catalog);
            if let Some(Err(reason)) = loaded.tables.get(name) {
                return Err(QueryError::new(
                    ErrorKind::UndefinedTable,
                    format!("semantic table {table} is not available: {reason}"),
                ));
            }
            policy.authorize(user, Action::ReadSemanticTable(&table))?;
        }
        Ok(any)
    }
}

/// The model a table name in a query names: `semantic.<model>` (when the layer's
/// catalog is the default one) or `<catalog>.semantic.<model>`.
fn resolve_name(
    catalog: &str,
    models: &SemanticModels,
    name: &ObjectName,
    default_catalog: &str,
) -> Option<usize> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| {
            p.as_ident().map(|i| {
                if i.quote_style.is_some() {
                    i.value.clone()
                } else {
                    i.value.to_ascii_lowercase()
                }
            })
        })
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [schema, table] if schema == SEMANTIC_SCHEMA && default_catalog == catalog => {
            models.find(table)
        }
        [c, schema, table] if schema == SEMANTIC_SCHEMA && c == catalog => models.find(table),
        _ => None,
    }
}

/// The SQL a query over semantic tables expands to (`gateway semantic compile`).
pub fn compile(
    models: &SemanticModels,
    catalog: &str,
    sql: &str,
) -> std::result::Result<String, String> {
    let mut statements =
        Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| format!("syntax error: {e}"))?;
    let mut out = Vec::new();
    for statement in statements.iter_mut() {
        let resolve = |name: &ObjectName| resolve_name(catalog, models, name, catalog);
        lakegate_semantic::expand_statement(statement, models, &resolve).map_err(|e| e.message)?;
        out.push(statement.to_string());
    }
    Ok(out.join(";\n"))
}

/// Reads the models of a source.
pub fn load(source: &ModelSource) -> std::result::Result<SemanticModels, String> {
    let loaded = match source {
        ModelSource::Builtin => lakegate_semantic::load_sources(&[(
            PathBuf::from("config/semantic/tpch.yml (built in)"),
            BUILTIN.to_string(),
        )]),
        ModelSource::Dir(dir) => lakegate_semantic::load_dir(dir),
    };
    loaded.map_err(|e| e.to_string())
}

/// Plans each model's `SELECT *` against the catalogs, for its table's schema.
async fn resolve_tables(
    models: SemanticModels,
    catalog: &str,
    registry: &CatalogRegistry,
) -> LoadedModels {
    let ctx = SessionContext::new_with_config(
        SessionConfig::new().with_create_default_catalog_and_schema(false),
    );
    for (name, provider) in registry.providers() {
        ctx.register_catalog(name, provider);
    }
    let mut tables = BTreeMap::new();
    for model in models.models() {
        let schema = plan_schema(&ctx, &models, catalog, &model.name).await;
        tables.insert(model.name.clone(), schema);
    }
    LoadedModels {
        models: Arc::new(models),
        tables,
    }
}

async fn plan_schema(
    ctx: &SessionContext,
    models: &SemanticModels,
    catalog: &str,
    model: &str,
) -> std::result::Result<SchemaRef, String> {
    let sql = format!("SELECT * FROM {catalog}.{SEMANTIC_SCHEMA}.{model}");
    let expanded = compile(models, catalog, &sql)?;
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, &expanded)
        .map_err(|e| format!("the expansion does not parse: {e}"))?;
    let statement: SqlStatement = statements
        .pop()
        .ok_or_else(|| "the expansion is empty".to_string())?;
    let plan = ctx
        .state()
        .statement_to_plan(DFStatement::Statement(Box::new(statement)))
        .await
        .map_err(|e| e.strip_backtrace().to_string())?;
    Ok(Arc::new(plan.schema().as_arrow().clone()))
}

/// The planner's error for a semantic query error.
fn semantic_error(e: lakegate_semantic::QueryError) -> QueryError {
    let kind = match e.kind {
        QueryErrorKind::UndefinedColumn => ErrorKind::UndefinedColumn,
        QueryErrorKind::Grouping | QueryErrorKind::WrongAggregate => ErrorKind::Grouping,
        QueryErrorKind::Unsupported | QueryErrorKind::FanOut => ErrorKind::FeatureNotSupported,
    };
    QueryError::new(kind, e.message)
}

/// The names, sizes and times of a directory's model files.
fn dir_stamp(dir: &std::path::Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut stamp: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let meta = e.metadata().ok()?;
                    Some((e.path(), meta.len(), meta.modified().ok()))
                })
                .collect()
        })
        .unwrap_or_default();
    stamp.sort();
    stamp
}

//! `gateway policy check PATH`: a policy directory (or file) checked before it is
//! deployed, with every problem named by `file:line`: syntax, rules that can never
//! apply, and, when the configured catalogs can be opened, tables that do not exist,
//! columns a rule names that its table lacks, and filters and masks that do not
//! type-check. `test` and `diff` live in their own modules.

pub mod cases;
pub mod diff;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use lakegate_catalog::CatalogRegistry;
use lakegate_security::policy::{Policy, PolicyTexts};

use crate::config::Config;

/// What a check found.
#[derive(Debug)]
pub struct CheckReport {
    /// Problems, each starting with `file:line`; empty when the policy is good.
    pub problems: Vec<String>,
    /// Whether the tables and columns were checked against the catalogs (they could
    /// be opened).
    pub against_catalogs: Result<(), String>,
    /// Rules read (`p`, `p2` and `p3` lines).
    pub rules: usize,
}

/// The model and policy files of `path`: a directory holding `policy.csv` (and
/// optionally `model.conf`), or a policy file.
fn files(path: &Path) -> (Option<PathBuf>, PathBuf) {
    if path.is_dir() {
        let model = path.join("model.conf");
        (model.exists().then_some(model), path.join("policy.csv"))
    } else {
        (None, path.to_path_buf())
    }
}

/// The model, policy and tags texts at `path`.
fn read(path: &Path) -> anyhow::Result<PolicyTexts> {
    let (model_file, policy_file) = files(path);
    PolicyTexts::read(model_file.as_deref(), &policy_file).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Loads the policy at `path` (a directory or a policy file); an error names the file
/// and line.
pub async fn load(path: &Path) -> anyhow::Result<Policy> {
    read(path)?
        .build()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Checks the policy at `path` against the catalogs `config` names.
pub async fn check(path: &Path, config: &Config) -> anyhow::Result<CheckReport> {
    let policy = match read(path)?.build().await {
        Ok(policy) => policy,
        Err(e) => {
            return Ok(CheckReport {
                problems: vec![e.to_string()],
                against_catalogs: Ok(()),
                rules: 0,
            });
        }
    };
    let rules = policy.grant_count() + policy.row_filters().len() + policy.column_rules().len();
    let registry = match CatalogRegistry::open(&config.effective_catalogs()).await {
        Ok(registry) => Arc::new(registry),
        Err(e) => {
            return Ok(CheckReport {
                problems: Vec::new(),
                against_catalogs: Err(format!("{e:#}")),
                rules,
            });
        }
    };
    let mut problems = Vec::new();
    if let Err(missing) = (crate::server::tables_exist(registry.clone()))(&policy) {
        problems.push(missing);
    }
    let schemas = schemas(&registry, &policy).await;
    problems.extend(
        lakegate_security::rules::check_rules(&policy, &|table| schemas.get(table).cloned()).await,
    );
    Ok(CheckReport {
        problems,
        against_catalogs: Ok(()),
        rules,
    })
}

/// The schemas of the tables the policy names literally, where they can be read.
async fn schemas(registry: &CatalogRegistry, policy: &Policy) -> HashMap<String, SchemaRef> {
    use datafusion::catalog::CatalogProvider;
    let mut schemas = HashMap::new();
    for (_, table) in policy.literal_tables() {
        let mut parts = table.splitn(3, '.');
        let (Some(catalog), Some(schema), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(provider) = registry.get(catalog).and_then(|c| c.lake.schema(schema)) else {
            continue;
        };
        if let Ok(Some(table_provider)) = provider.table(name).await {
            schemas.insert(table.to_string(), table_provider.schema());
        }
    }
    schemas
}

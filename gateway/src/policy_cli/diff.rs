//! `gateway policy diff OLD NEW`: what each principal gains and loses between two
//! policies — tables it may read, row filters, and columns masked or denied — judged
//! table by table over the configured catalogs (rule by rule when they cannot be
//! opened).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use lakegate_catalog::CatalogRegistry;
use lakegate_security::policy::{ColumnAction, Policy, TableAccess};

use crate::config::Config;

/// How one principal sees one table under one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    /// `None`: may not read it. `Some(filters)`: readable, through these filters (OR);
    /// empty: every row.
    rows: Option<BTreeSet<String>>,
    /// Column → `deny` or the mask's name, for columns with a rule.
    columns: BTreeMap<String, String>,
}

/// The differences, one block per principal with changes.
#[derive(Debug, Default)]
pub struct DiffReport {
    /// Lines to print: a principal, then `+`/`-`/`~` lines under it.
    pub lines: Vec<String>,
    /// Whether anything differs.
    pub changed: bool,
    /// Why the catalogs were not used (the diff is then over the rules only).
    pub without_catalogs: Option<String>,
}

/// Compares the policies at `old` and `new` (directories or policy files).
pub async fn diff(old: &Path, new: &Path, config: &Config) -> anyhow::Result<DiffReport> {
    let old_policy = super::load(old).await?;
    let new_policy = super::load(new).await?;
    let mut principals: BTreeSet<String> = old_policy.principals();
    principals.extend(new_policy.principals());
    principals.extend(config.effective_users().into_iter().map(|u| u.name));
    match tables(config).await {
        Ok(tables) if !tables.is_empty() => {
            Ok(by_table(&old_policy, &new_policy, &principals, &tables))
        }
        Ok(_) => {
            let mut report = by_rule(&old_policy, &new_policy, &principals);
            report.without_catalogs = Some("the configured catalogs hold no tables".into());
            Ok(report)
        }
        Err(why) => {
            let mut report = by_rule(&old_policy, &new_policy, &principals);
            report.without_catalogs = Some(why);
            Ok(report)
        }
    }
}

/// Every table of the configured catalogs with its columns.
async fn tables(config: &Config) -> Result<Vec<(String, Vec<String>)>, String> {
    let registry = CatalogRegistry::open(&config.effective_catalogs())
        .await
        .map_err(|e| format!("{e:#}"))?;
    let mut tables = Vec::new();
    for (catalog, provider) in registry.providers() {
        for schema in provider.schema_names() {
            let Some(provider) = provider.schema(&schema) else {
                continue;
            };
            for table in provider.table_names() {
                let Ok(Some(read)) = provider.table(&table).await else {
                    continue;
                };
                let columns = read
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                tables.push((format!("{catalog}.{schema}.{table}"), columns));
            }
        }
    }
    tables.sort();
    Ok(tables)
}

fn view(policy: &Policy, principal: &str, table: &str, columns: &[String]) -> View {
    let rows = match policy.table_access(principal, table) {
        TableAccess::Denied => None,
        TableAccess::AllRows => Some(BTreeSet::new()),
        TableAccess::Filtered(filters) => Some(filters.into_iter().map(|f| f.expression).collect()),
    };
    let subjects = policy.subjects(principal);
    let columns = columns
        .iter()
        .filter_map(|column| {
            let rule = policy.column_rule_for(&subjects, table, column)?;
            Some((column.clone(), action_name(&rule.action)))
        })
        .collect();
    View { rows, columns }
}

fn action_name(action: &ColumnAction) -> String {
    match action {
        ColumnAction::Deny => "deny".into(),
        ColumnAction::Mask(kind) => format!("mask {kind}"),
    }
}

fn rows_text(filters: &BTreeSet<String>) -> String {
    match filters.len() {
        0 => "every row".into(),
        _ => format!(
            "rows where {}",
            filters
                .iter()
                .map(|f| format!("({f})"))
                .collect::<Vec<_>>()
                .join(" OR ")
        ),
    }
}

fn by_table(
    old: &Policy,
    new: &Policy,
    principals: &BTreeSet<String>,
    tables: &[(String, Vec<String>)],
) -> DiffReport {
    let mut report = DiffReport::default();
    for principal in principals {
        let mut lines = Vec::new();
        for (table, columns) in tables {
            let before = view(old, principal, table, columns);
            let after = view(new, principal, table, columns);
            if before == after {
                continue;
            }
            match (&before.rows, &after.rows) {
                (None, Some(rows)) => lines.push(format!("  + {table}: {}", rows_text(rows))),
                (Some(rows), None) => lines.push(format!(
                    "  - {table}: no longer readable (was {})",
                    rows_text(rows)
                )),
                (Some(a), Some(b)) if a != b => lines.push(format!(
                    "  ~ {table}: {} (was {})",
                    rows_text(b),
                    rows_text(a)
                )),
                _ => {}
            }
            // Column rules matter only where the table is readable afterwards (or was).
            if after.rows.is_none() && before.rows.is_none() {
                continue;
            }
            for column in columns {
                let (a, b) = (before.columns.get(column), after.columns.get(column));
                match (a, b) {
                    (None, Some(rule)) => lines.push(format!("  + {table}.{column}: {rule}")),
                    (Some(rule), None) => lines.push(format!(
                        "  - {table}.{column}: {rule} removed (the column is shown as stored)"
                    )),
                    (Some(a), Some(b)) if a != b => {
                        lines.push(format!("  ~ {table}.{column}: {b} (was {a})"))
                    }
                    _ => {}
                }
            }
        }
        if !lines.is_empty() {
            report.changed = true;
            report.lines.push(principal.clone());
            report.lines.extend(lines);
        }
    }
    report
}

/// Without catalogs: the rules each principal is subject to (its own and its roles'),
/// gained and lost.
fn by_rule(old: &Policy, new: &Policy, principals: &BTreeSet<String>) -> DiffReport {
    let mut report = DiffReport::default();
    for principal in principals {
        let before = old.effective_rules(principal);
        let after = new.effective_rules(principal);
        let mut lines: Vec<String> = after
            .difference(&before)
            .map(|rule| format!("  + {rule}"))
            .collect();
        lines.extend(before.difference(&after).map(|rule| format!("  - {rule}")));
        if !lines.is_empty() {
            report.changed = true;
            report.lines.push(principal.clone());
            report.lines.extend(lines);
        }
    }
    report
}

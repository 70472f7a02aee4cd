//! `gateway policy test DIR CASES`: a cases file of expectations (who runs what, and
//! whether it is allowed, which rows come back, which columns are masked, hidden or
//! filtered) run against an in-process gateway holding the policy of `DIR`.

use std::collections::BTreeMap;
use std::path::Path;

use futures::StreamExt;
use lakegate_planner::{ClientOrigin, Outcome, QueryService, Session};
use lakegate_security::Principal;
use lakegate_security::policy::{ColumnAction, Policy, pattern};
use serde::Deserialize;

use crate::config::Config;

/// A cases file: `[[case]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
}

/// One expectation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case checks, printed with its outcome.
    name: Option<String>,
    /// Who runs the statement: a configured user (with its attributes), or any name.
    user: String,
    /// Attributes added to (or replacing) the user's, for `${user.ATTR}` filters.
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    /// The statement.
    sql: String,
    /// `allowed`, `denied` (42501), or the SQLSTATE the statement must fail with.
    #[serde(default = "allowed")]
    expect: String,
    /// The whole result, each value as Postgres text (`NULL` for NULL), in order.
    rows: Option<Vec<Vec<String>>>,
    /// How many rows come back.
    row_count: Option<usize>,
    /// Result columns a mask must have rewritten.
    #[serde(default)]
    masked: Vec<String>,
    /// Result columns no mask may have touched.
    #[serde(default)]
    unmasked: Vec<String>,
    /// Columns that must not be in the result (denied columns left out of `SELECT *`).
    #[serde(default)]
    hidden: Vec<String>,
    /// Tables (`catalog.schema.table`) the statement must read through a row filter.
    #[serde(default)]
    filtered: Vec<String>,
    /// Tables the statement must read with no row filter.
    #[serde(default)]
    unfiltered: Vec<String>,
}

fn allowed() -> String {
    "allowed".into()
}

/// The outcome of a run: one line per case, and how many failed.
#[derive(Debug)]
pub struct CasesReport {
    /// `ok  NAME` or `FAIL NAME: why`, in file order.
    pub lines: Vec<String>,
    /// Cases that failed.
    pub failed: usize,
}

/// Runs the cases of `cases` against a gateway started from `config` with the policy
/// of `policy_dir` (listeners on loopback, ephemeral ports; the configured catalogs,
/// seeded with the demo data when the configuration seeds).
pub async fn run(
    policy_dir: &Path,
    cases: &Path,
    mut config: Config,
) -> anyhow::Result<CasesReport> {
    let text = std::fs::read_to_string(cases)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", cases.display()))?;
    let file: CasesFile =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", cases.display()))?;
    if file.cases.is_empty() {
        anyhow::bail!("{}: no [[case]] in the file", cases.display());
    }
    let (model, policy) = super::files(policy_dir);
    config.security.model = model.map(|m| m.display().to_string());
    config.security.policy = Some(policy.display().to_string());
    config.security.reload_seconds = 0;
    config.pg.listen = "127.0.0.1:0".into();
    config.flight.enabled = false;
    config.admin.enabled = false;
    let gateway = crate::server::Gateway::start(config, false).await?;
    let mut lines = Vec::new();
    let mut failed = 0;
    for (n, case) in file.cases.iter().enumerate() {
        let name = case
            .name
            .clone()
            .unwrap_or_else(|| format!("case {} ({}: {})", n + 1, case.user, case.sql));
        match run_case(gateway.service(), gateway.users(), case).await {
            Ok(()) => lines.push(format!("ok   {name}")),
            Err(why) => {
                failed += 1;
                lines.push(format!("FAIL {name}: {why}"));
            }
        }
    }
    gateway.shutdown().await;
    Ok(CasesReport { lines, failed })
}

/// What one statement answered.
struct Answer {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

async fn run_case(
    service: &QueryService,
    users: &lakegate_security::UserStore,
    case: &Case,
) -> Result<(), String> {
    let mut principal = users
        .principal(&case.user)
        .unwrap_or_else(|| Principal::new(case.user.clone()));
    principal.attributes.extend(case.attributes.clone());
    let mut session = service.open_session(
        principal,
        ClientOrigin {
            address: "policy-test".into(),
            protocol: "postgres",
        },
    );
    let answer = execute(service, &mut session, &case.sql).await;
    match (case.expect.as_str(), answer) {
        ("allowed", Err((code, message))) => Err(format!("refused with {code}: {message}")),
        ("allowed", Ok(answer)) => {
            check_answer(case, &answer, &session, &service.policy().current())
        }
        (expected, Ok(_)) => Err(format!("allowed, expected {expected}")),
        (expected, Err((code, message))) => {
            let want = if expected == "denied" {
                "42501"
            } else {
                expected
            };
            if code == want {
                Ok(())
            } else {
                Err(format!("refused with {code} ({message}), expected {want}"))
            }
        }
    }
}

async fn execute(
    service: &QueryService,
    session: &mut Session,
    sql: &str,
) -> Result<Answer, (String, String)> {
    let error = |e: lakegate_planner::QueryError| (e.kind.sqlstate().to_string(), e.message);
    let mut answer = Answer {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    for statement in service.parse(session, sql).map_err(error)? {
        let prepared = service.prepare_to_run(sql, statement);
        answer = Answer {
            columns: Vec::new(),
            rows: Vec::new(),
        };
        if let Outcome::Rows { mut stream, .. } = service
            .execute(session, &prepared, Vec::new())
            .await
            .map_err(error)?
        {
            answer.columns = stream
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| error(e.into()))?;
                let values = crate::pg::text_values(&batch)
                    .map_err(|e| ("XX000".to_string(), e.to_string()))?;
                answer.rows.extend(values.into_iter().map(|row| {
                    row.into_iter()
                        .map(|v| v.unwrap_or_else(|| "NULL".into()))
                        .collect()
                }));
            }
        }
    }
    Ok(answer)
}

fn check_answer(
    case: &Case,
    answer: &Answer,
    session: &Session,
    policy: &Policy,
) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Some(rows) = &case.rows
        && rows != &answer.rows
    {
        problems.push(format!(
            "rows {:?}, expected {rows:?}",
            shorten(&answer.rows)
        ));
    }
    if let Some(count) = case.row_count
        && count != answer.rows.len()
    {
        problems.push(format!("{} rows, expected {count}", answer.rows.len()));
    }
    let access = session.last_access();
    let masked: Vec<&str> = access
        .masks
        .iter()
        .filter_map(|id| policy.column_rules().iter().find(|r| &r.id == id))
        .filter(|rule| matches!(rule.action, ColumnAction::Mask(_)))
        .filter_map(|rule| rule.column.rsplit_once('.').map(|(_, column)| column))
        .collect();
    let is_masked = |column: &str| masked.iter().any(|p| pattern::matches(column, p));
    for column in &case.masked {
        if !answer.columns.contains(column) {
            problems.push(format!("column {column} is not in the result"));
        } else if !is_masked(column) {
            problems.push(format!("column {column} is not masked"));
        }
    }
    for column in &case.unmasked {
        if is_masked(column) {
            problems.push(format!("column {column} is masked"));
        }
    }
    for column in &case.hidden {
        if answer.columns.contains(column) {
            problems.push(format!("column {column} is in the result"));
        }
    }
    let filtered = |table: &str| {
        access
            .filters
            .iter()
            .filter_map(|id| policy.row_filters().iter().find(|f| &f.id == id))
            .any(|f| pattern::matches(table, &f.table))
    };
    for table in &case.filtered {
        if !access.tables.contains(table) {
            problems.push(format!("table {table} is not read"));
        } else if !filtered(table) {
            problems.push(format!("table {table} is read with no row filter"));
        }
    }
    for table in &case.unfiltered {
        if filtered(table) {
            problems.push(format!("table {table} is read through a row filter"));
        }
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems.join("; ")),
    }
}

/// The first rows of a result, for a failure message.
fn shorten(rows: &[Vec<String>]) -> Vec<Vec<String>> {
    rows.iter().take(5).cloned().collect()
}

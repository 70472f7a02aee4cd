//! `CALL system.optimize('catalog.schema.table' [, target_file_size => '128MB'])`:
//! compacts an Iceberg table's small files into files of the target size, committed as
//! one `replace` snapshot. Needs the `insert` grant on the table. The figures reach
//! the client as a NOTICE.

use datafusion::sql::sqlparser::ast::Function;
use lakegate_catalog::CatalogRegistry;
use lakegate_security::policy::{Action, PolicyStore};

use crate::session::Session;
use crate::statements::procedures::arguments;
use crate::{ErrorKind, Notice, QueryError, Result};

/// The procedure's names (Trino's Iceberg connector spells it `ALTER TABLE … EXECUTE
/// optimize`; a CALL fits the gateway's other procedures).
pub(crate) const NAMES: [&str; 2] = ["system.optimize", "system.rewrite_data_files"];

/// Whether `function` calls the compaction.
pub(crate) fn is_optimize(function: &Function) -> bool {
    let name = function.name.to_string().to_ascii_lowercase();
    NAMES.contains(&name.as_str())
}

/// Runs the compaction for `session`; returns the command tag.
pub(crate) async fn optimize(
    session: &Session,
    function: &Function,
    registry: &CatalogRegistry,
    policy: &PolicyStore,
) -> Result<String> {
    let procedure = function.name.to_string().to_ascii_lowercase();
    let args = arguments(&procedure, function, &["table", "target_file_size"])?;
    let table = args[0].clone().ok_or_else(|| {
        QueryError::new(
            ErrorKind::InvalidParameterValue,
            format!("{procedure} needs a table: CALL {procedure}('catalog.schema.table')"),
        )
    })?;
    let target = args[1].as_deref().map(parse_size).transpose()?;
    let (catalog, schema, name) = resolve(session, &table)?;
    let full = format!("{catalog}.{schema}.{name}");
    let lake = registry.get(&catalog).ok_or_else(|| {
        QueryError::new(
            ErrorKind::FeatureNotSupported,
            format!("cannot optimize {full}: only Iceberg tables are compacted"),
        )
    })?;
    policy.authorize(&session.principal, Action::Optimize(&full))?;
    let loaded = lake
        .lake
        .load_table(&schema, &name)
        .await
        .map_err(QueryError::from)?
        .ok_or_else(|| {
            QueryError::new(
                ErrorKind::UndefinedTable,
                format!("table {full} does not exist"),
            )
        })?;
    let started = std::time::Instant::now();
    let done = lakegate_catalog::iceberg::compact(&lake.lake, &loaded, target)
        .await
        .map_err(QueryError::from)?;
    tracing::info!(
        table = %full,
        user = %session.principal.user,
        files_rewritten = done.files_rewritten,
        files_written = done.files_written,
        bytes_rewritten = done.bytes_rewritten,
        bytes_written = done.bytes_written,
        rows = done.rows,
        snapshot_id = ?done.snapshot_id,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "table compacted"
    );
    let message = match done.snapshot_id {
        Some(id) => format!(
            "{full}: {} small files ({} bytes) rewritten as {} ({} bytes); snapshot {id}",
            done.files_rewritten, done.bytes_rewritten, done.files_written, done.bytes_written
        ),
        None => format!(
            "{full}: nothing to compact ({} data files, no partition with two or more small files)",
            done.files_before
        ),
    };
    session
        .notices
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Notice {
            message,
            detail: Some(format!(
                "files_before={} files_rewritten={} files_written={} bytes_rewritten={} \
                 bytes_written={} rows={}",
                done.files_before,
                done.files_rewritten,
                done.files_written,
                done.bytes_rewritten,
                done.bytes_written,
                done.rows
            )),
        });
    Ok("CALL".into())
}

/// `catalog.schema.table`, `schema.table` or `table`, against the session's defaults
/// (as the pg_catalog functions resolve names).
fn resolve(session: &Session, table: &str) -> Result<(String, String, String)> {
    let state = session.ctx.state();
    lakegate_pg_compat::catalog::split_name(state.config_options(), table)
        .filter(|(c, s, t)| !c.is_empty() && !s.is_empty() && !t.is_empty())
        .ok_or_else(|| {
            QueryError::new(
                ErrorKind::InvalidParameterValue,
                format!("{table:?} is not a table name (catalog.schema.table)"),
            )
        })
}

/// `134217728`, `128MB`, `512 kB`, `1GB` (powers of 1024, as Trino's data sizes).
fn parse_size(text: &str) -> Result<u64> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        _ => 0,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && scale > 0)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            QueryError::new(
                ErrorKind::InvalidParameterValue,
                format!("target_file_size {text:?} is not a size (such as 134217728 or 128MB)"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bytes_or_binary_units() {
        assert_eq!(parse_size("1024").expect("bytes"), 1024);
        assert_eq!(parse_size("128MB").expect("mb"), 128 << 20);
        assert_eq!(parse_size(" 2 kB ").expect("kb"), 2048);
        assert_eq!(parse_size("1GB").expect("gb"), 1 << 30);
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MB").is_err());
    }
}

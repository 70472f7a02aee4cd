//! Crash recovery of the query history. A query's audit record is flushed before its
//! result completes, its history record only with the next batch, so a crash loses
//! the batch from the history but not from the audit trail.
//!
//! Each gateway writing a history holds a lease on it: an exclusively locked file
//! `<history dir>/instances/<instance>.lock`, removed once its last batch is committed
//! at shutdown. A lease file whose lock nobody holds belongs to a gateway that died with
//! records uncommitted: at start-up its records are replayed from the audit trail (the
//! ones the history lacks, by query id), then its lease file is removed. The leases of
//! running gateways are left alone, so gateways sharing a history never replay each
//! other's buffered records.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::prelude::SessionContext;
use iceberg_datafusion::IcebergStaticTableProvider;

use crate::history::record::{history_record, status_name};
use crate::history::store::HistoryStore;
use crate::{ErrorKind, QueryError, Result};

fn failed(e: impl std::fmt::Display) -> QueryError {
    QueryError::new(
        ErrorKind::Internal,
        format!("recovering the query history from the audit trail: {e}"),
    )
}

fn leases_dir(history: &HistoryStore) -> PathBuf {
    super::lease::leases_dir(&history.dir)
}

/// Replays from the audit trail at `audit` the records of dead gateways that their
/// history lacks, and commits them. Returns how many.
pub async fn recover_from_audit(history: &HistoryStore, audit: &Path) -> Result<usize> {
    let dir = leases_dir(history);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(failed(e)),
    };
    let mut recovered = 0;
    for entry in entries {
        let path = entry.map_err(failed)?.path();
        let Some(instance) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".lock"))
            .map(str::to_string)
        else {
            continue;
        };
        let file = File::open(&path).map_err(failed)?;
        // Held: a running gateway (this one included).
        if file.try_lock().is_err() {
            continue;
        }
        let since = file.metadata().and_then(|m| m.modified()).map_err(failed)?;
        let replayed = replay(history, audit, &instance, since).await?;
        if replayed > 0 {
            tracing::info!(
                instance,
                replayed,
                "query history: records of a gateway that stopped without committing them replayed from the audit trail"
            );
        }
        recovered += replayed;
        // Still holding its lock, so no other gateway replays it too.
        std::fs::remove_file(&path).map_err(failed)?;
    }
    Ok(recovered)
}

/// Replays the records of gateway `instance`, audited since `since`, that the history
/// lacks.
async fn replay(
    history: &HistoryStore,
    audit: &Path,
    instance: &str,
    since: std::time::SystemTime,
) -> Result<usize> {
    let prefix = format!("{instance}_");
    let events: Vec<_> = lakegate_security::audit::read_since(audit, since)
        .map_err(failed)?
        .into_iter()
        .filter(|e| e.cost.is_some() && e.query_id.starts_with(&prefix))
        .collect();
    if events.is_empty() {
        return Ok(0);
    }
    let known = committed_ids(history, &prefix).await?;
    let mut replayed = 0;
    for event in events {
        if known.contains(&event.query_id) {
            continue;
        }
        let Ok(ended) = chrono::DateTime::parse_from_rfc3339(&event.time) else {
            continue;
        };
        let status = status_name(&event.outcome, &event.decision);
        if let Some(record) = history_record(&event, status, ended.with_timezone(&chrono::Utc)) {
            history.record(record);
            replayed += 1;
        }
    }
    if replayed > 0 {
        history.flush().await?;
    }
    Ok(replayed)
}

/// The ids of the committed history records whose id starts with `prefix`.
async fn committed_ids(history: &HistoryStore, prefix: &str) -> Result<HashSet<String>> {
    let ctx = SessionContext::new();
    let provider = IcebergStaticTableProvider::try_new_from_table(history.table().await?)
        .await
        .map_err(failed)?;
    ctx.register_table("history", Arc::new(provider))
        .map_err(failed)?;
    let batches = ctx
        .table("history")
        .await
        .map_err(failed)?
        .filter(datafusion::prelude::starts_with(
            datafusion::prelude::col("query_id"),
            datafusion::prelude::lit(prefix),
        ))
        .map_err(failed)?
        .select_columns(&["query_id"])
        .map_err(failed)?
        .collect()
        .await
        .map_err(failed)?;
    let mut ids = HashSet::new();
    for batch in &batches {
        let column = batch.column(0).as_string::<i32>();
        for i in 0..column.len() {
            if column.is_valid(i) {
                ids.insert(column.value(i).to_string());
            }
        }
    }
    Ok(ids)
}

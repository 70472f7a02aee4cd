//! A statement's history record, made from its audit record.

use lakegate_security::audit::AuditEvent;

use crate::history::store::HistoryRecord;

/// A statement's status in the history, from how it ended and the policy's decision.
pub(crate) fn status_name(outcome: &str, decision: &str) -> &'static str {
    match (outcome, decision) {
        ("ok", _) => "finished",
        ("abandoned", _) => "abandoned",
        (_, "deny") => "denied",
        _ => "failed",
    }
}

/// The history record of a metered statement's audit record (`None` for statements
/// that are not queries).
pub(crate) fn history_record(
    event: &AuditEvent,
    status: &str,
    ended_at: chrono::DateTime<chrono::Utc>,
) -> Option<HistoryRecord> {
    let cost = event.cost.as_ref()?;
    let wall = chrono::Duration::microseconds((event.duration_ms * 1000.0) as i64);
    Some(HistoryRecord {
        query_id: event.query_id.clone(),
        session_id: event.session_id,
        user: event.user.clone(),
        roles: event.roles.clone(),
        protocol: event.protocol.clone(),
        sql: event.sql.clone(),
        status: status.into(),
        error: event.error.clone(),
        started_at: ended_at - wall,
        ended_at,
        tables: event.tables.clone(),
        cache_hit: event.cache_hit,
        figures: crate::QueryFigures {
            bytes_scanned: cost.bytes_scanned,
            metadata_bytes: cost.metadata_bytes,
            files_scanned: cost.files_scanned,
            files_pruned: cost.files_pruned,
            row_groups_scanned: cost.row_groups_scanned,
            row_groups_pruned: cost.row_groups_pruned,
            read_requests: cost.read_requests,
            rows_scanned: cost.rows_scanned,
            rows_returned: event.rows,
            bytes_returned: cost.bytes_returned,
            cpu_ms: cost.cpu_ms,
            wall_ms: event.duration_ms,
            queue_ms: cost.queue_ms,
            peak_memory_bytes: cost.peak_memory_bytes,
            spilled_bytes: cost.spilled_bytes,
            spill_files: cost.spill_files,
            cost: cost.cost,
        },
    })
}

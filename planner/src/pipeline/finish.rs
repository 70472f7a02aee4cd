//! The audit trail of statements: building each record from the session and what the
//! security rule applied, and writing it with the statement's log line.

use std::time::Instant;

use std::sync::{Arc, OnceLock};

use lakegate_security::audit::{AuditEvent, AuditLog};

use crate::history::store::{HistoryRecord, HistoryStore};

use crate::pipeline::completion::Ending;
use crate::service::QueryService;
use crate::session::Session;
use crate::{ErrorKind, QueryError, Result};

impl QueryService {
    /// Records a statement that failed before producing a result (including denials).
    pub(crate) fn record_failure(
        &self,
        mut event: AuditEvent,
        started: Instant,
        error: &QueryError,
    ) {
        event.decision = match error.kind {
            ErrorKind::InsufficientPrivilege => "deny".into(),
            _ => "error".into(),
        };
        event.error = Some(error.message.clone());
        // The statement already failed; a failure to audit it is logged loudly.
        if let Err(e) = finish_event(&self.audit, event, started, "error") {
            tracing::error!(error = %e.message, "audit record lost");
        }
    }

    /// Records a metadata request (a Flight SQL `CommandGet*`) answered from the
    /// session's catalog view: what was asked and how many rows it listed.
    pub fn audit_metadata(&self, session: &Session, request: &str, rows: u64) -> Result<()> {
        let query_id = self
            .next_query
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        session.clear_access();
        let mut event = self.audit_event(session, query_id, request);
        event.decision = "allow".into();
        event.rows = rows;
        finish_event(&self.audit, event, Instant::now(), "ok")
    }

    /// An audit record for a statement of this session, with what the security rule
    /// applied while planning it.
    /// The id of the query numbered `n`: this gateway's id and the number, unique
    /// across restarts and among gateways sharing a data directory.
    pub(crate) fn query_name(&self, n: u64) -> String {
        format!("{}_{n:05}", self.instance)
    }

    pub(crate) fn audit_event(&self, session: &Session, query_id: u64, sql: &str) -> AuditEvent {
        let query_id = self.query_name(query_id);
        let access = session.last_access();
        let mut tables = access.tables;
        if let Some(denied) = access.denied {
            tables.push(denied);
        }
        let mut event = AuditEvent {
            query_id,
            session_id: session.id,
            user: session.principal.user.clone(),
            roles: session.principal.roles.clone(),
            client: session.client.address.clone(),
            protocol: session.client.protocol.to_string(),
            tables,
            columns: access.columns,
            filters: access.filters,
            masks: access.masks,
            ..AuditEvent::default()
        };
        self.audit.audit.set_sql(&mut event, sql);
        event
    }
}

/// A gateway's id: its start time (UTC) and five random characters, so that gateways
/// started in the same second on one data directory still differ.
pub(crate) fn instance_id() -> String {
    use std::hash::BuildHasher;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let now = chrono::Utc::now();
    let mut seed = std::collections::hash_map::RandomState::new()
        .hash_one((std::process::id(), now.timestamp_nanos_opt()));
    let suffix: String = (0..5)
        .map(|_| {
            let c = ALPHABET[(seed % ALPHABET.len() as u64) as usize] as char;
            seed /= ALPHABET.len() as u64;
            c
        })
        .collect();
    format!("{}_{suffix}", now.format("%Y%m%d_%H%M%S"))
}

pub(crate) fn ending_name(ending: Ending) -> &'static str {
    match ending {
        Ending::Complete => "ok",
        Ending::Failed => "error",
        Ending::Abandoned => "abandoned",
    }
}

/// Where finished statements are recorded: the audit trail, and for queries the query
/// history (once the gateway has opened it).
#[derive(Debug)]
pub(crate) struct Trail {
    pub(crate) audit: Arc<AuditLog>,
    pub(crate) history: OnceLock<Arc<HistoryStore>>,
    /// What each user and role has spent against its budgets.
    pub(crate) budgets: crate::BudgetLedger,
    /// Prometheus counters.
    pub(crate) metrics: Arc<crate::Metrics>,
}

/// Writes the statement's log line and audit record, and a query's history record.
pub(crate) fn finish_event(
    trail: &Trail,
    mut event: AuditEvent,
    started: Instant,
    outcome: &'static str,
) -> Result<()> {
    event.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    event.time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tracing::info!(
        query_id = event.query_id,
        session_id = event.session_id,
        user = %event.user,
        rows = event.rows,
        duration_ms = event.duration_ms,
        outcome,
        decision = %event.decision,
        error = event.error.as_deref().unwrap_or(""),
        "statement"
    );
    event.outcome = outcome.to_string();
    let status = status_name(outcome, &event.decision);
    if let Some(cost) = &event.cost {
        trail
            .budgets
            .add(&event.user, &event.roles, cost.cost, chrono::Utc::now());
        trail.metrics.query_finished(
            &event.protocol,
            status,
            event.duration_ms / 1000.0,
            cost.bytes_scanned,
            event.rows,
            cost.cost,
        );
    }
    if let Some(history) = trail.history.get()
        && let Some(record) = history_record(&event, status, chrono::Utc::now())
    {
        history.record(record);
    }
    trail.audit.record(&event).map_err(|e| {
        tracing::error!(error = %e, "cannot write the audit trail");
        QueryError::new(
            ErrorKind::Internal,
            "the audit trail cannot be written; the result is withheld",
        )
    })
}

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
            cost: cost.cost,
        },
    })
}

//! Stage 5, finish: each statement's audit record (from the session and what the
//! security rule applied) with its log line, the history record, the budgets' spending,
//! the metrics, and the cost and budget notices.

use std::time::Instant;

use std::sync::{Arc, Mutex, OnceLock};

use lakegate_security::audit::{AuditAck, AuditEvent, AuditLog};
use lakegate_security::rules::AccessReport;

use crate::history::record::{history_record, status_name};
use crate::history::store::HistoryStore;

use crate::metering::QueryMeter;
use crate::pipeline::completion::{Ending, OnFinish, withheld};
use crate::session::Session;
use crate::{ErrorKind, QueryError, Result};

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

/// Where finished statements are recorded: the audit trail, for queries the query
/// history (once the gateway has opened it), the budgets' spending and the metrics.
#[derive(Debug)]
pub(crate) struct StatementRecorder {
    pub(crate) audit: Arc<AuditLog>,
    pub(crate) history: OnceLock<Arc<HistoryStore>>,
    /// What each user and role has spent against its budgets.
    pub(crate) budgets: crate::BudgetLedger,
    /// Prometheus counters.
    pub(crate) metrics: Arc<crate::Metrics>,
}

impl StatementRecorder {
    /// The statement text as the audit trail keeps it (`None` when only its hash is
    /// kept).
    pub(crate) fn logged_sql(&self, sql: &str) -> Option<String> {
        let mut text = AuditEvent::default();
        self.audit.set_sql(&mut text, sql);
        text.sql
    }

    /// An audit record for a statement of `session` run as `run`, with what the
    /// security rule applied while planning it.
    pub(crate) fn event(
        &self,
        session: &Session,
        query_id: &str,
        access: AccessReport,
        sql: &str,
    ) -> AuditEvent {
        let mut tables = access.tables;
        if let Some(denied) = access.denied {
            tables.push(denied);
        }
        let mut event = AuditEvent {
            query_id: query_id.to_string(),
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
        self.audit.set_sql(&mut event, sql);
        event
    }

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
        // The statement already failed: its record is handed to the writer, which
        // logs loudly if it cannot write it.
        drop(finish_event(self, event, started, "error"));
    }
}

/// Writes the statement's log line and a query's history record, and hands its audit
/// record to the writer: the acknowledgement says when it is written.
pub(crate) fn finish_event(
    trail: &StatementRecorder,
    mut event: AuditEvent,
    started: Instant,
    outcome: &'static str,
) -> AuditAck {
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
    trail.audit.submit(&event)
}

/// [`finish_event`], waiting for the record to be written: a statement whose audit
/// record cannot be written fails, its result withheld.
pub(crate) async fn finish_event_now(
    trail: &StatementRecorder,
    event: AuditEvent,
    started: Instant,
    outcome: &'static str,
) -> Result<()> {
    finish_event(trail, event, started, outcome)
        .await
        .map_err(|_| withheld())
}

/// A query's meter, with what to do with its figures when the result ends.
pub(crate) struct Metered {
    pub(crate) meter: Arc<QueryMeter>,
    pub(crate) prices: crate::PriceList,
    /// Send the cost notice (`SET gateway.show_cost = on`).
    pub(crate) show_cost: bool,
    /// Where the session's notices go (cost, soft budgets).
    pub(crate) notices: Arc<Mutex<Vec<crate::Notice>>>,
    /// Whether figures that count hidden rows are withheld from row-filtered readers.
    pub(crate) statistics: lakegate_security::policy::StatisticsMode,
}

/// Records a streamed statement's audit event when its stream ends: rows read, and
/// whether it completed, failed or was abandoned, with the query's metered figures.
pub(crate) fn audited_when_done(
    audit: Arc<StatementRecorder>,
    mut event: AuditEvent,
    started: Instant,
    metered: Option<Metered>,
) -> OnFinish {
    Box::new(move |rows, bytes, ending, error| {
        event.rows = rows;
        event.decision = match ending {
            Ending::Failed => "error".into(),
            Ending::Complete | Ending::Abandoned => "allow".into(),
        };
        event.error = error;
        let (user, roles) = (event.user.clone(), event.roles.clone());
        let mut notices = Vec::new();
        let mut target = None;
        if let Some(metered) = metered {
            let figures = metered.meter.figures(rows, bytes, &metered.prices);
            if metered.show_cost {
                // Rows scanned count the hidden rows of a row-filtered table.
                let withhold_rows = !event.filters.is_empty()
                    && metered.statistics == lakegate_security::policy::StatisticsMode::Protected;
                notices.push(cost_notice(&figures, &metered.prices, withhold_rows));
            }
            event.cost = Some(figures.into());
            target = Some((metered.notices, metered.prices.unit));
        }
        let result = finish_event(&audit, event, started, ending_name(ending));
        // Soft budgets are checked with this query's cost counted.
        if let Some((target, unit)) = target {
            for (budget, spent) in audit
                .budgets
                .soft_overruns(&user, &roles, chrono::Utc::now())
            {
                notices.push(budget_notice(&budget, spent, &unit));
            }
            target
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(notices);
        }
        result
    })
}

/// The warning a client gets while over a soft budget.
fn budget_notice(budget: &crate::Budget, spent: f64, unit: &str) -> crate::Notice {
    let period = match budget.period {
        crate::BudgetPeriod::Day => "daily",
        crate::BudgetPeriod::Month => "monthly",
    };
    crate::Notice {
        message: format!(
            "{period} budget of {} {unit} for {} is exceeded: {spent:.8} {unit} used",
            budget.limit, budget.subject
        ),
        detail: None,
    }
}

/// The NOTICE a client gets with `gateway.show_cost` on: the cost, and every figure
/// as `name=value` pairs in DETAIL.
fn cost_notice(
    figures: &crate::QueryFigures,
    prices: &crate::PriceList,
    withhold_rows: bool,
) -> crate::Notice {
    let f = figures;
    let rows_scanned = match withhold_rows {
        true => "withheld".to_string(),
        false => f.rows_scanned.to_string(),
    };
    crate::Notice {
        message: format!("query cost {:.8} {}", f.cost, prices.unit),
        detail: Some(format!(
            "bytes_scanned={} metadata_bytes={} files_scanned={} files_pruned={} \
             row_groups_scanned={} row_groups_pruned={} read_requests={} \
             rows_scanned={} rows_returned={} bytes_returned={} cpu_ms={:.3} wall_ms={:.3} \
             queue_ms={:.3} peak_memory_bytes={} spilled_bytes={} spill_files={} cost={:.10}",
            f.bytes_scanned,
            f.metadata_bytes,
            f.files_scanned,
            f.files_pruned,
            f.row_groups_scanned,
            f.row_groups_pruned,
            f.read_requests,
            rows_scanned,
            f.rows_returned,
            f.bytes_returned,
            f.cpu_ms,
            f.wall_ms,
            f.queue_ms,
            f.peak_memory_bytes,
            f.spilled_bytes,
            f.spill_files,
            f.cost,
        )),
    }
}

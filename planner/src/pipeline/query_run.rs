//! One statement's run: what it is called, when it started, what it may take, what it
//! measured and what it left behind for the stages after it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lakegate_security::rules::AccessReport;
use tokio_util::sync::CancellationToken;

use crate::metering::QueryMeter;
use crate::session::{Notice, Session};
use crate::statements::writes::CreatedTable;

/// The state of one statement from admission to its audit record.
pub(crate) struct QueryRun {
    /// `<gateway instance>_<n>`: the id in the audit trail, the history and
    /// `system.runtime.queries`.
    pub(crate) id: String,
    /// When execution started (the audit record's duration runs from here).
    pub(crate) started: Instant,
    /// Cancels this statement (the session's token for its current statement).
    pub(crate) cancel: CancellationToken,
    /// `statement_timeout` (or a role's shorter limit) and the instant it ends.
    pub(crate) deadline: Option<(tokio::time::Instant, Duration)>,
    /// The meter of the query the statement started, if it started one.
    pub(crate) meter: Option<Arc<QueryMeter>>,
    /// Whether its result came from the results cache.
    pub(crate) cache_hit: bool,
    /// The table a CREATE TABLE AS created, dropped if its rows fail.
    pub(crate) created: Option<CreatedTable>,
    /// What the security rule applied while planning (the session's rule writes it).
    pub(crate) access: Arc<Mutex<AccessReport>>,
    /// Where NOTICE messages for the client go (cost, soft budgets).
    pub(crate) notices: Arc<Mutex<Vec<Notice>>>,
}

impl QueryRun {
    /// A run of the session's current statement, named `id`.
    pub(crate) fn new(session: &Session, id: String) -> Self {
        Self {
            id,
            started: Instant::now(),
            cancel: session.cancel.clone(),
            deadline: None,
            meter: None,
            cache_hit: false,
            created: None,
            access: session.report.clone(),
            notices: session.notices.clone(),
        }
    }

    /// What the security rule applied to this statement.
    pub(crate) fn access(&self) -> AccessReport {
        self.access
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

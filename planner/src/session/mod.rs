//! One client connection's state: its principal, parameters and DataFusion context.

pub(crate) mod cursors;
pub(crate) mod lookup_plans;
pub(crate) mod settings;
pub(crate) mod transaction;

use std::sync::{Arc, Mutex};

use datafusion::prelude::SessionContext;
use lakegate_security::Principal;
use lakegate_security::rules::{AccessReport, SecureScans};
use tokio_util::sync::CancellationToken;

use crate::session::cursors::Cursors;
use crate::session::settings::Settings;
use crate::{QueryError, Result};
use transaction::TransactionBlock;

/// A NOTICE for the client: a message and a machine-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The one-line message.
    pub message: String,
    /// The DETAIL field.
    pub detail: Option<String>,
}

/// Where a session comes from, for the audit trail.
#[derive(Debug, Clone)]
pub struct ClientOrigin {
    /// The client's address.
    pub address: String,
    /// `postgres` or `flight-sql`.
    pub protocol: &'static str,
}

/// Per-connection state. Nothing here is shared between connections.
pub struct Session {
    pub(crate) id: u64,
    pub(crate) principal: Principal,
    pub(crate) client: ClientOrigin,
    pub(crate) settings: Settings,
    pub(crate) ctx: SessionContext,
    /// The security rule of this session's analyzer.
    pub(crate) rule: Arc<SecureScans>,
    /// What the rule applied to the last statement, for the audit trail.
    pub(crate) report: Arc<Mutex<AccessReport>>,
    /// Cancels the current statement (planning and its result stream).
    pub(crate) cancel: CancellationToken,
    /// The open transaction block, if any.
    pub(crate) transaction: Option<TransactionBlock>,
    /// Open cursors.
    pub(crate) cursors: Cursors,
    /// What this session's pg_catalog reads beyond the catalogs (its parameters).
    pub(crate) pg_context: Arc<lakegate_pg_compat::catalog::PgCatalogContext>,
    /// NOTICE messages for the client, sent after the statement's result.
    pub(crate) notices: Arc<Mutex<Vec<Notice>>>,
    /// The plans of the row-filter lookups this session's statements needed.
    pub(crate) lookup_plans: lookup_plans::LookupPlans,
    /// The digest of the engine options, for the settings generation it was taken at
    /// (see `results_cache::key::session_options_digest`).
    pub(crate) options_digest: Mutex<Option<(u64, [u8; 32])>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user", &self.principal.user)
            .finish()
    }
}

impl Session {
    /// The session's number, unique within this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Who is connected.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The current value of a parameter (`SHOW name`).
    pub fn setting(&self, name: &str) -> Result<String, QueryError> {
        self.settings.get(name)
    }

    /// Sets a parameter as `SET name = value` would.
    pub fn set_setting(&mut self, name: &str, value: &str) -> Result<(), QueryError> {
        self.settings.set(name, value.to_string())
    }

    /// Starts a new statement: returns the token that cancels it (and only it).
    /// Frontends hand it to whatever receives cancel requests.
    pub fn begin_statement(&mut self) -> CancellationToken {
        self.cancel = CancellationToken::new();
        self.cancel.clone()
    }

    /// What the security rule applied while planning the last statement.
    pub fn last_access(&self) -> AccessReport {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The NOTICE messages waiting for the client (cost notices), oldest first.
    pub fn take_notices(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn clear_access(&self) {
        *self.report.lock().unwrap_or_else(|e| e.into_inner()) = AccessReport::default();
    }

    /// The catalog and schema that unqualified names resolve in.
    pub fn current_schema(&self) -> (String, String) {
        let state = self.ctx.state();
        let catalog = &state.config_options().catalog;
        (
            catalog.default_catalog.clone(),
            catalog.default_schema.clone(),
        )
    }
}

impl Session {
    /// Ends the transaction block (COMMIT, ROLLBACK, or a COMMIT of a failed block):
    /// savepoints are forgotten, cursors without HOLD close, and the isolation level
    /// returns to the session default.
    pub fn end_transaction(&mut self) {
        self.transaction = None;
        self.cursors.close_unheld();
        if let Ok(level) = self.settings.get("default_transaction_isolation") {
            let _ = self.settings.set("transaction_isolation", level);
        }
    }

    /// The result schema of an open cursor (a cursor is also a protocol portal).
    pub fn cursor_schema(&self, name: &str) -> Option<datafusion::arrow::datatypes::SchemaRef> {
        self.cursors.get_schema(name)
    }

    /// Whether a transaction block is open.
    pub fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }
}

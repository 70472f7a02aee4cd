//! One client connection's state: its principal, parameters and DataFusion context.

use datafusion::prelude::SessionContext;
use lakegate_security::Principal;

use crate::settings::Settings;
use crate::{QueryError, Result};

/// Per-connection state. Nothing here is shared between connections.
pub struct Session {
    pub(crate) id: u64,
    pub(crate) principal: Principal,
    pub(crate) settings: Settings,
    pub(crate) ctx: SessionContext,
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

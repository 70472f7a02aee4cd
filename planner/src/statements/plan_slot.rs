//! The kept plan of a prepared statement (see `pipeline::prepared_plan`, which fills
//! and checks it): shared by the statement's clones, so that every execution of one
//! protocol-level prepared statement finds it.

use std::sync::{Arc, Mutex};

use datafusion::logical_expr::LogicalPlan;
use lakegate_security::policy::Policy;
use lakegate_security::rules::AccessReport;

use crate::results_cache::key::VersionCheck;
use crate::semantic_layer::LoadedModels;

/// A secured plan and what it holds under.
pub(crate) struct KeptPlan {
    /// Analyzed, parameters unbound.
    pub(crate) plan: LogicalPlan,
    pub(crate) policy: Arc<Policy>,
    pub(crate) models: Option<Arc<LoadedModels>>,
    /// The principal, settings generation and default catalog and schema.
    pub(crate) context: [u8; 32],
    pub(crate) checks: Vec<VersionCheck>,
    /// The part of `checks` for the tables its row filters' lookups read while it
    /// was planned (their values are in the plan).
    pub(crate) lookup_checks: Vec<VersionCheck>,
    /// What the security rule applied, for each execution's audit record.
    pub(crate) access: AccessReport,
}

#[derive(Default)]
pub(crate) enum Slot {
    /// Not executed yet: a statement run once is planned as usual.
    #[default]
    Fresh,
    /// Executed once: the next execution keeps its plan.
    Executed,
    Kept(Arc<KeptPlan>),
    /// Its plan cannot be kept (see the module's text).
    Never,
}

/// A prepared statement's kept plan; clones of the statement share it.
#[derive(Clone, Default)]
pub struct PlanSlot(Arc<Mutex<Slot>>);

impl std::fmt::Debug for PlanSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &*self.lock() {
            Slot::Fresh => "fresh",
            Slot::Executed => "executed",
            Slot::Kept(_) => "kept",
            Slot::Never => "never",
        };
        f.debug_tuple("PlanSlot").field(&state).finish()
    }
}

impl PlanSlot {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set(&self, slot: Slot) {
        *self.lock() = slot;
    }
}

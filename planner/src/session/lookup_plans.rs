//! The plans of the row-filter lookups a session's statements needed, kept by their SQL
//! with parameters unbound, so that the next statement re-binds one to its own tables
//! instead of planning it again (see `pipeline::lookup_tables`).

use std::collections::HashMap;
use std::sync::Mutex;

use datafusion::logical_expr::LogicalPlan;

/// Lookups this session planned, by SQL, with their parameters unbound.
#[derive(Debug, Default)]
pub(crate) struct LookupPlans(Mutex<HashMap<String, LogicalPlan>>);

/// Lookups kept per session at most (a principal has a few lookup filters; a policy
/// reload that rewrites them leaves old entries, dropped all at once past this).
const MAX_KEPT: usize = 64;

impl LookupPlans {
    pub(crate) fn get(&self, sql: &str) -> Option<LogicalPlan> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sql)
            .cloned()
    }

    pub(crate) fn keep(&self, sql: &str, plan: &LogicalPlan) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert(sql.to_string(), plan.clone());
    }
}

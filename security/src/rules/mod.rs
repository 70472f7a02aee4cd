//! Analyzer rules that rewrite resolved plans so that policies hold: one rule per file.

mod barrier;
mod barrier_projection;
mod check;
mod expressions;
mod filtered_source;
mod lookup_filters;
mod masks;
mod safe_pushdown;
mod secure_scan;

pub use barrier::{GatewayQueryPlanner, PolicyBarrier, PolicyBarrierExec};
pub use barrier_projection::ProjectBelowBarrier;
pub use check::check_rules;
pub use filtered_source::RowFilteredTable;
pub use lookup_filters::EvaluatedLookups;
pub use safe_pushdown::PushSafePredicatesThroughBarrier;
pub use secure_scan::{AccessReport, SecureScans};

pub use crate::error::PermissionDenied;

/// A policy that cannot be applied (bad expression, missing attribute): never an open
/// door, always an error naming the rule.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    /// Message naming the policy line.
    pub message: String,
}

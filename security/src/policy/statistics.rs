//! What query figures a principal with a row filter may see: the statistics model.
//!
//! Figures are side channels. A user predicate that "cannot fail" and crosses the policy
//! barrier prunes files by min/max statistics over every row, hidden ones included, so
//! the number of files pruned (or whether a scan is empty) answers questions about
//! hidden values (`n_name > 'VIETNAM'`); a row estimate or a count of rows scanned
//! counts hidden rows.

use serde::{Deserialize, Serialize};

/// `[security] statistics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatisticsMode {
    /// Figures shown for a statement that reads a row-filtered table do not depend on
    /// its hidden rows: the user's predicates never prune that table (only the row
    /// filter does), and row estimates and rows scanned are withheld. Storage figures
    /// (bytes, files, row groups), which budgets charge, are shown: they tell the size
    /// of the files the row filter leaves, never the values in them.
    #[default]
    Protected,
    /// The user's predicates that cannot fail prune filtered tables too (faster), and
    /// every figure is shown. Reveals statistics of hidden rows: min/max of a column
    /// through files pruned, and hidden row counts.
    Performance,
}

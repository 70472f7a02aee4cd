//! The `system` catalog's tables: queries running now, the query history, FinOps views.

pub(crate) mod finops;
pub(crate) mod history;
pub(crate) mod runtime;

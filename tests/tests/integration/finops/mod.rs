//! Metering, budgets, the query history, metrics, concurrency limits and kills.

mod admin_metrics;
mod budgets;
mod concurrency;
mod history;
mod kill;
mod memory;
mod metering;

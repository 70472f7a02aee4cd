//! Metering: what each query read, computed and held, and what that cost.
//!
//! A [`QueryMeter`] is made for each query before it is planned. Storage reads are
//! counted by the catalog's counting storage (through the [`ScanMeter`] placed in the
//! query's session config), CPU by wrapping every operator (cpu.rs), memory by a pool
//! in front of the shared one (memory.rs). When the result stream ends, the figures
//! are taken once and priced with the configured [`PriceList`].

mod admission;
mod budgets;
mod cpu;
pub(crate) use cpu::install_spawn_hook;
mod figures;
mod limits;
mod memory;
mod memory_gate;
mod memory_need;
pub(crate) use memory_need::memory_need;
mod meter;
mod metrics;
mod price;
mod shared_runtime;
mod shared_store;
mod shared_workers;

pub(crate) use admission::{Admission, Slots};
pub(crate) use budgets::refusal_message;
pub use budgets::{Budget, BudgetLedger, BudgetMode, BudgetPeriod};
pub use figures::QueryFigures;
pub use limits::QueryLimit;
pub(crate) use limits::{max_scan_bytes, statement_timeout_ms};
pub(crate) use meter::QueryMeter;
pub use metrics::Metrics;
pub use price::PriceList;
pub(crate) use shared_runtime::{PUBLISH_EVERY, SharedQuery};
pub use shared_store::{SharedStore, redacted_url};

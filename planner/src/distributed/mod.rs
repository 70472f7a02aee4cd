//! Distributed execution on datafusion-distributed: the gateway plans and secures a
//! query as always, and workers run stages of its physical plan. This module holds what
//! the plan needs to travel ([`codec`]); the coordinator's routing and the worker
//! service build on it.

pub mod codec;
pub mod worker;

pub use codec::{GatewayCodec, worker_functions};
pub use worker::worker;

#[cfg(test)]
mod loopback_tests;
#[cfg(test)]
mod tests;

//! Distributed execution on datafusion-distributed: the gateway plans and secures a
//! query as always, and workers run stages of its physical plan. This module holds what
//! the plan needs to travel ([`codec`]), the gateway's side ([`coordinator`]: cut the
//! plan into stages, add the workers' figures to the query's meter) and the workers'
//! service ([`worker`]). The statement pipeline's routing to it is not wired yet.

pub mod codec;
pub mod coordinator;
pub mod worker;

pub use codec::{GatewayCodec, worker_functions};
pub use coordinator::{add_worker_figures, distribute};
pub use worker::worker;

#[cfg(test)]
mod loopback_tests;
#[cfg(test)]
mod tests;

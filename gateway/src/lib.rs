//! The gateway: configuration, server lifecycle, and the Postgres wire and Arrow Flight
//! SQL frontends.
//!
//! `gateway serve` loads the layered [`config::Config`], opens the catalogs (seeding
//! the demo lakehouse on first start), and serves the Postgres wire protocol until
//! SIGINT or SIGTERM. Tests and benchmarks start the same [`server::Gateway`] on port 0.

pub mod admin;
pub mod backtraces;
pub mod byte_size;
pub mod config;
pub mod exposure;
pub mod flight;
pub mod logging;
pub mod login_throttle;
pub mod malloc;
pub mod pg;
pub mod policy_cli;
pub mod server;
pub mod worker;

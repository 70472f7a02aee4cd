//! The Arrow Flight SQL front door, and its answers compared with the Postgres wire's.

mod equivalence;
mod limits;
mod metadata;
mod results;
pub(crate) mod sql;

//! The Postgres wire frontend: authenticates connections, turns protocol messages into
//! `QueryService` calls, and encodes Arrow results as Postgres rows.
//!
//! No SQL meaning lives here: statements are parsed, planned and executed by the
//! planner; this module only speaks the protocol.

mod admission;
mod auth;
mod cancel;
mod connection;
mod connection_loop;
mod copy;
mod copy_values;
mod encode;
mod errors;
mod frames;
mod handlers;
mod inbound;
mod interval;
mod message_check;
mod numeric;
mod outbound;
mod params;
mod peer_watch;
mod query;
mod startup;
pub mod tls;
mod types;
mod values;

pub use encode::text_values;
pub use handlers::PgFrontend;

//! Who may see what: principals, SCRAM-SHA-256 verifiers and the user store.
//!
//! This crate knows nothing about wire protocols; frontends turn a login into a
//! [`Principal`] through [`UserStore`] and hand that principal to the planner.

mod error;
mod principal;
mod scram;
mod users;

pub use error::{Result, SecurityError};
pub use principal::Principal;
pub use scram::{DEFAULT_ITERATIONS, ScramVerifier};
pub use users::{UserConfig, UserStore};

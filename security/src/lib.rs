//! Who may see what: principals, SCRAM-SHA-256 verifiers, the user store, Casbin
//! policies, the analyzer rule that applies grants, row filters and column masks to
//! resolved plans, and the principal-filtered catalog view.
//!
//! This crate knows nothing about wire protocols; frontends turn a login into a
//! [`Principal`] through [`UserStore`] and the planner applies the rules.

pub mod audit;
mod audit_chain;
mod audit_files;
mod audit_writer;
mod error;
pub mod external;
pub mod jwt;
pub mod ldap;
pub mod policy;
mod principal;
pub mod rules;
mod scram;
pub mod signer;
#[cfg(test)]
mod test_session;
mod users;
pub mod view;

pub use error::{Result, SecurityError};
pub use principal::{Principal, Subject};
pub use scram::{DEFAULT_ITERATIONS, ScramVerifier};
pub use users::{UserConfig, UserStore, md5_credential};

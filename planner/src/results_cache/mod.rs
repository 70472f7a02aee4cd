//! Query results kept in memory (a moka cache) and served again to whoever runs the
//! same secured plan over the same data.
//!
//! The key ([`key::plan_key`]) is a SHA-256 of the *analyzed* logical plan, after the
//! security rule (row filters with their bound values, masks) and with its parameters
//! bound, together with the version of every table it reads and the session's engine
//! settings: a hit skips logical optimization, physical planning and execution. Two
//! principals share an entry only when their policies made the same plan, which
//! returns the same rows; a new snapshot of any table is a new key. Results over
//! sources without versions are cached only when their catalog opts in with a TTL.
//! Only results that finished without error and fit in an entry are kept.

pub(crate) mod filling;
pub(crate) mod key;
pub(crate) mod single_flight;
pub(crate) mod statements;
pub(crate) mod store;

pub(crate) use key::{PlanKey, plan_key};
pub(crate) use single_flight::LeaderGuard;
pub use store::ResultsCacheConfig;
pub(crate) use store::{CachedResult, Lookup, ResultCache};

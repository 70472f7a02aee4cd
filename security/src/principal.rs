//! The authenticated identity every query carries from the frontend to the planner.

use std::collections::BTreeMap;

/// An authenticated user: its name, its roles and its attributes (region, team…).
///
/// Built once per connection by the frontend, after authentication succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The login name.
    pub user: String,
    /// Roles the user holds, from configuration.
    pub roles: Vec<String>,
    /// Free-form attributes, bound as values by later policy rules.
    pub attributes: BTreeMap<String, String>,
}

impl Principal {
    /// A principal with a name and nothing else.
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            roles: Vec::new(),
            attributes: BTreeMap::new(),
        }
    }
}

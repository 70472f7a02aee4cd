//! The authenticated identity every query carries from the frontend to the planner.

use std::collections::BTreeMap;

/// An authenticated user: its name, its roles and its attributes (region, team…).
///
/// Built once per connection by the frontend, after authentication succeeded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    /// The login name.
    pub user: String,
    /// Every role the user holds: the identity provider's and the policy's (filled
    /// when a session opens), for budgets, limits and the audit trail.
    pub roles: Vec<String>,
    /// Free-form attributes, bound as values by later policy rules.
    pub attributes: BTreeMap<String, String>,
    /// Roles the identity provider asserted for this login (a JWT's groups), beyond
    /// the `g` lines of the policy; the policy is evaluated for them too.
    pub identity_roles: Vec<String>,
}

/// Whom a policy decision is for: a user name, and the roles its identity provider
/// asserted (none for users of the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The user name.
    pub user: &'a str,
    /// Roles asserted at login, beyond the policy's own `g` lines.
    pub roles: &'a [String],
}

impl<'a> From<&'a str> for Subject<'a> {
    fn from(user: &'a str) -> Self {
        Self { user, roles: &[] }
    }
}

impl<'a> From<&'a String> for Subject<'a> {
    fn from(user: &'a String) -> Self {
        Self {
            user: user.as_str(),
            roles: &[],
        }
    }
}

impl<'a> From<&'a Principal> for Subject<'a> {
    fn from(principal: &'a Principal) -> Self {
        Self {
            user: &principal.user,
            roles: &principal.identity_roles,
        }
    }
}

impl Principal {
    /// A principal with a name and nothing else.
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            roles: Vec::new(),
            attributes: BTreeMap::new(),
            identity_roles: Vec::new(),
        }
    }
}

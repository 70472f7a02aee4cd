//! The user store: users from configuration, with SCRAM verifiers and attributes.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::{Principal, Result, ScramVerifier, SecurityError};

/// One user as written in the configuration file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Login name.
    pub name: String,
    /// SCRAM-SHA-256 verifier, as printed by `gateway passwd`.
    pub password: String,
    /// Optional PostgreSQL MD5 hash (`md5` + md5(password + name)), for listeners
    /// configured with `auth = "md5"`; printed by `gateway passwd --md5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// Attributes such as region or team.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug)]
struct UserEntry {
    verifier: ScramVerifier,
    /// The 32 hex digits of md5(password + name), if configured.
    md5: Option<String>,
    principal: Principal,
}

/// All known users, by name. Unknown users and wrong passwords are indistinguishable
/// to callers that only use [`UserStore::verify_password`].
#[derive(Debug, Default)]
pub struct UserStore {
    users: HashMap<String, UserEntry>,
}

impl UserStore {
    /// Builds the store, validating every verifier and name.
    pub fn from_config(users: &[UserConfig]) -> Result<Self> {
        let mut map = HashMap::with_capacity(users.len());
        for user in users {
            if user.name.is_empty() || user.name.chars().any(char::is_control) {
                return Err(SecurityError::InvalidUserName(user.name.clone()));
            }
            let verifier = ScramVerifier::parse(&user.name, &user.password)?;
            let md5 = user
                .md5
                .as_deref()
                .map(|hash| parse_md5(&user.name, hash))
                .transpose()?;
            // Roles come from the policy (Casbin `g` lines) when a session opens.
            let principal = Principal {
                user: user.name.clone(),
                roles: Vec::new(),
                attributes: user.attributes.clone(),
                identity_roles: Vec::new(),
            };
            if map
                .insert(
                    user.name.clone(),
                    UserEntry {
                        verifier,
                        md5,
                        principal,
                    },
                )
                .is_some()
            {
                return Err(SecurityError::DuplicateUser(user.name.clone()));
            }
        }
        Ok(Self { users: map })
    }

    /// The verifier and principal of a user, for a SCRAM exchange.
    pub fn scram_credentials(&self, user: &str) -> Option<(&ScramVerifier, &Principal)> {
        self.users
            .get(user)
            .map(|entry| (&entry.verifier, &entry.principal))
    }

    /// The hex md5(password + name) of a user with an MD5 credential.
    pub fn md5_hash(&self, user: &str) -> Option<&str> {
        self.users.get(user)?.md5.as_deref()
    }

    /// The principal of a known user.
    pub fn principal(&self, user: &str) -> Option<Principal> {
        self.users.get(user).map(|entry| entry.principal.clone())
    }

    /// Checks a cleartext password (used by tests and non-SCRAM paths).
    pub fn verify_password(&self, user: &str, password: &str) -> Option<Principal> {
        let entry = self.users.get(user)?;
        entry
            .verifier
            .matches_password(password)
            .then(|| entry.principal.clone())
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether no user is configured.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// PostgreSQL's MD5 password form for `name`: `md5` and 32 hex digits.
pub fn md5_credential(name: &str, password: &str) -> String {
    format!("md5{:x}", md5::compute(format!("{password}{name}")))
}

fn parse_md5(name: &str, text: &str) -> Result<String> {
    match text.strip_prefix("md5") {
        Some(hex) if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(hex.to_ascii_lowercase())
        }
        _ => Err(SecurityError::InvalidVerifier {
            user: name.to_string(),
            reason: "md5 must be `md5` followed by 32 hex digits (gateway passwd --md5)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, password: &str) -> UserConfig {
        UserConfig {
            name: name.into(),
            password: ScramVerifier::generate(password).to_string(),
            md5: Some(md5_credential(name, password)),
            attributes: BTreeMap::from([("region".into(), "EUROPE".into())]),
        }
    }

    #[test]
    fn verifies_known_users_only() {
        let store = UserStore::from_config(&[user("ann", "pw")]).expect("store");
        let p = store.verify_password("ann", "pw").expect("ann logs in");
        assert_eq!(
            store.md5_hash("ann"),
            Some(format!("{:x}", md5::compute("pwann")).as_str())
        );
        assert_eq!(p.attributes["region"], "EUROPE");
        assert!(store.verify_password("ann", "nope").is_none());
        assert!(store.verify_password("bob", "pw").is_none());
    }

    #[test]
    fn rejects_duplicates_and_plain_passwords() {
        let err = UserStore::from_config(&[user("a", "x"), user("a", "y")]).expect_err("dup");
        assert!(err.to_string().contains("defined twice"));
        let mut plain = user("c", "x");
        plain.password = "hunter2".into();
        let err = UserStore::from_config(&[plain]).expect_err("plain");
        assert!(err.to_string().contains("SCRAM-SHA-256$"), "{err}");
    }
}

//! LDAP logins (`[auth.ldap]`): a user the configuration does not hold signs in with
//! their directory password, checked by a bind as their entry (found from a DN template,
//! or searched for by a service account first); their groups become policy roles and
//! chosen attributes of their entry `${user.ATTR}` values for row filters. Connections
//! are TLS (ldaps:// or StartTLS), pooled, and every exchange has a timeout.

mod pool;

use std::collections::BTreeMap;
use std::time::Duration;

use ldap3::{LdapError, Scope, SearchEntry, dn_escape, ldap_escape};
use serde::{Deserialize, Serialize};

use crate::Principal;
use pool::{Connection, Pool};

/// The longest user name and password taken (the directory would refuse longer ones).
const MAX_NAME_BYTES: usize = 256;
const MAX_PASSWORD_BYTES: usize = 1024;

/// `[auth.ldap]`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    /// `ldaps://host:636`, or `ldap://host:389` with `start_tls`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before anything is sent.
    pub start_tls: bool,
    /// A PEM file of root certificates for the directory's certificate (a private CA),
    /// trusted besides the system's.
    pub ca_file: Option<String>,
    /// Allow `ldap://` without StartTLS: passwords cross the network in clear. Only for
    /// a directory on the same machine.
    pub allow_plaintext: bool,
    /// The user's entry as a template, `uid={user},ou=people,dc=example,dc=org`; or
    /// leave it unset and search for the entry (`search_base`, `search_filter`).
    pub bind_dn: Option<String>,
    /// Where users are searched for (search-then-bind).
    pub search_base: Option<String>,
    /// Which entry is the user's: `(uid={user})`.
    pub search_filter: String,
    /// The service account that searches (unset: an anonymous search).
    pub search_bind_dn: Option<String>,
    /// Its password (prefer `search_bind_password_env`).
    pub search_bind_password: Option<String>,
    /// The environment variable holding its password.
    pub search_bind_password_env: Option<String>,
    /// Where groups are searched for; unset: no roles from the directory.
    pub group_base: Option<String>,
    /// Which groups the user is in: `{dn}` is the user's entry, `{user}` the login.
    pub group_filter: String,
    /// The group attribute that names the role.
    pub group_attribute: String,
    /// Prepended to each group name to name its policy role (`role:` + group).
    pub role_prefix: String,
    /// Policy attributes from the user's entry: `{ region = "l" }` makes the first
    /// value of the entry's `l` the `${user.region}` of row filters.
    pub attributes: BTreeMap<String, String>,
    /// Connections kept open for logins.
    pub pool_size: usize,
    /// The limit of each connect and each exchange with the directory.
    pub timeout_seconds: u64,
    /// Postgres wire: take directory passwords as cleartext passwords on connections
    /// without TLS.
    pub allow_without_tls: bool,
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("start_tls", &self.start_tls)
            .field("bind_dn", &self.bind_dn)
            .field("search_base", &self.search_base)
            .field("search_filter", &self.search_filter)
            .field("search_bind_dn", &self.search_bind_dn)
            .field(
                "search_bind_password",
                &self.search_bind_password.as_ref().map(|_| "(redacted)"),
            )
            .field("group_base", &self.group_base)
            .field("group_filter", &self.group_filter)
            .finish_non_exhaustive()
    }
}

impl Default for LdapConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            start_tls: false,
            ca_file: None,
            allow_plaintext: false,
            bind_dn: None,
            search_base: None,
            search_filter: "(uid={user})".into(),
            search_bind_dn: None,
            search_bind_password: None,
            search_bind_password_env: None,
            group_base: None,
            group_filter: "(member={dn})".into(),
            group_attribute: "cn".into(),
            role_prefix: "role:".into(),
            attributes: BTreeMap::new(),
            pool_size: 4,
            timeout_seconds: 5,
            allow_without_tls: false,
        }
    }
}

/// A login refused: wrong credentials, or a directory that could not answer. Both are
/// refusals (28000 / UNAUTHENTICATED); the text says which, and holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapLoginError {
    /// The directory refused the credentials (or there is no such user).
    #[error("{0}")]
    Refused(String),
    /// The directory could not be asked (down, slow, misconfigured).
    #[error("the directory could not be reached: {0}")]
    Unavailable(String),
}

/// How a user's entry is found.
#[derive(Debug, Clone)]
enum Locate {
    Template(String),
    Search {
        base: String,
        filter: String,
        service: Option<(String, String)>,
    },
}

/// Checks passwords against one directory.
#[derive(Debug)]
pub struct LdapAuthenticator {
    config: LdapConfig,
    locate: Locate,
    pool: Pool,
}

impl LdapAuthenticator {
    /// Checks the configuration (nothing is connected until the first login: a
    /// directory that is down at start-up refuses logins, not the gateway's start).
    pub fn new(config: LdapConfig) -> Result<Self, String> {
        let plain = config.url.starts_with("ldap://");
        if !plain && !config.url.starts_with("ldaps://") {
            return Err(format!(
                "[auth.ldap] url must be ldaps:// or ldap://, not {:?}",
                config.url
            ));
        }
        if plain && !config.start_tls && !config.allow_plaintext {
            return Err(
                "[auth.ldap] an ldap:// url sends passwords in clear: set start_tls = true \
                 (or allow_plaintext = true for a directory on this machine)"
                    .into(),
            );
        }
        if !plain && config.start_tls {
            return Err(
                "[auth.ldap] start_tls is for ldap:// urls (ldaps:// is TLS already)".into(),
            );
        }
        let locate = match (&config.bind_dn, &config.search_base) {
            (Some(template), None) => {
                if !template.contains("{user}") {
                    return Err("[auth.ldap] bind_dn must contain {user}".into());
                }
                Locate::Template(template.clone())
            }
            (None, Some(base)) => {
                if !config.search_filter.contains("{user}") {
                    return Err("[auth.ldap] search_filter must contain {user}".into());
                }
                let password = match (
                    &config.search_bind_password,
                    &config.search_bind_password_env,
                ) {
                    (Some(password), None) => Some(password.clone()),
                    (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                        format!("[auth.ldap] search_bind_password_env: {var} is not set")
                    })?),
                    (None, None) => None,
                    (Some(_), Some(_)) => {
                        return Err("[auth.ldap] set search_bind_password or \
                                    search_bind_password_env, not both"
                            .into());
                    }
                };
                let service = match (&config.search_bind_dn, password) {
                    (Some(dn), Some(password)) => Some((dn.clone(), password)),
                    (None, None) => None,
                    _ => {
                        return Err(
                            "[auth.ldap] search_bind_dn and its password go together".into()
                        );
                    }
                };
                Locate::Search {
                    base: base.clone(),
                    filter: config.search_filter.clone(),
                    service,
                }
            }
            _ => {
                return Err(
                    "[auth.ldap] set one of bind_dn (a template) or search_base (search, then bind)"
                        .into(),
                );
            }
        };
        if config.group_base.is_some()
            && !config.group_filter.contains("{dn}")
            && !config.group_filter.contains("{user}")
        {
            return Err("[auth.ldap] group_filter must contain {dn} or {user}".into());
        }
        let timeout = Duration::from_secs(config.timeout_seconds.max(1));
        let tls = match (plain && !config.start_tls, &config.ca_file) {
            (true, _) => None,
            (false, ca_file) => Some(pool::tls_config(ca_file.as_deref())?),
        };
        let pool = Pool::new(
            config.url.clone(),
            config.start_tls,
            tls,
            config.pool_size.max(1),
            timeout,
        );
        Ok(Self {
            config,
            locate,
            pool,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &LdapConfig {
        &self.config
    }

    /// The principal of `user` if `password` is theirs.
    pub async fn login(&self, user: &str, password: &str) -> Result<Principal, LdapLoginError> {
        if user.is_empty() || user.len() > MAX_NAME_BYTES || user.chars().any(char::is_control) {
            return Err(LdapLoginError::Refused("not a valid user name".into()));
        }
        // An empty password is an unauthenticated bind, which directories accept.
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(LdapLoginError::Refused(
                "the password is empty or too long".into(),
            ));
        }
        let mut connection = self.pool.take().await.map_err(unavailable)?;
        let result = self.login_on(&mut connection, user, password).await;
        // A connection is kept only after an exchange that left it usable.
        if !matches!(result, Err(LdapLoginError::Unavailable(_))) {
            self.pool.give_back(connection);
        }
        result
    }

    async fn login_on(
        &self,
        connection: &mut Connection,
        user: &str,
        password: &str,
    ) -> Result<Principal, LdapLoginError> {
        let attributes: Vec<&str> = self
            .config
            .attributes
            .values()
            .map(String::as_str)
            .collect();
        let (dn, entry) = match &self.locate {
            Locate::Template(template) => (template.replace("{user}", &dn_escape(user)), None),
            Locate::Search {
                base,
                filter,
                service,
            } => {
                match service {
                    Some((dn, password)) => connection.bind(dn, password).await.map_err(|e| {
                        match e {
                            // The service account's own credentials: a configuration error.
                            LdapLoginError::Refused(why) => LdapLoginError::Unavailable(format!(
                                "the search account was refused: {why}"
                            )),
                            other => other,
                        }
                    })?,
                    None => connection.anonymous().await?,
                }
                let filter = filter.replace("{user}", &ldap_escape(user));
                let mut found = connection
                    .search(base, Scope::Subtree, &filter, &attributes)
                    .await?;
                match found.len() {
                    1 => {
                        let entry = found.remove(0);
                        (entry.dn.clone(), Some(entry))
                    }
                    0 => return Err(LdapLoginError::Refused("no such user".into())),
                    n => {
                        return Err(LdapLoginError::Refused(format!(
                            "{n} directory entries match the user; the search filter must \
                             find one"
                        )));
                    }
                }
            }
        };
        connection.bind(&dn, password).await?;
        // The entry's attributes, read as the user when no search found them.
        let entry = match entry {
            Some(entry) => entry,
            None if attributes.is_empty() => SearchEntry {
                dn: dn.clone(),
                attrs: Default::default(),
                bin_attrs: Default::default(),
            },
            None => connection
                .search(&dn, Scope::Base, "(objectClass=*)", &attributes)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    LdapLoginError::Refused("the user's own entry cannot be read".into())
                })?,
        };
        let roles = match &self.config.group_base {
            Some(base) => {
                // Groups are read as the service account where there is one.
                if let Locate::Search {
                    service: Some((service_dn, service_password)),
                    ..
                } = &self.locate
                {
                    connection.bind(service_dn, service_password).await?;
                }
                let filter = self
                    .config
                    .group_filter
                    .replace("{dn}", &ldap_escape(&dn))
                    .replace("{user}", &ldap_escape(user));
                let attribute = self.config.group_attribute.as_str();
                let groups = connection
                    .search(base, Scope::Subtree, &filter, &[attribute])
                    .await?;
                let mut roles: Vec<String> = groups
                    .iter()
                    .filter_map(|group| first_value(group, attribute))
                    .map(|name| format!("{}{name}", self.config.role_prefix))
                    .collect();
                roles.sort();
                roles.dedup();
                roles
            }
            None => Vec::new(),
        };
        let mut values = BTreeMap::new();
        for (name, attribute) in &self.config.attributes {
            if let Some(value) = first_value(&entry, attribute) {
                values.insert(name.clone(), value);
            }
        }
        tracing::info!(user, roles = roles.len(), "LDAP login");
        Ok(Principal {
            user: user.to_string(),
            roles: roles.clone(),
            attributes: values,
            identity_roles: roles,
        })
    }
}

/// The first value of `attribute` (named case-insensitively, as LDAP does).
fn first_value(entry: &SearchEntry, attribute: &str) -> Option<String> {
    entry
        .attrs
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .and_then(|(_, values)| values.first().cloned())
}

fn unavailable(error: LdapError) -> LdapLoginError {
    LdapLoginError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests;

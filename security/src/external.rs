//! Logins of users the configuration does not hold: an identity provider's token
//! (`[auth.jwt]`) or a directory password (`[auth.ldap]`), both presented as a password.
//! A password shaped as a JWT goes to the token verifier; any other to the directory.

use std::sync::Arc;

use crate::Principal;
use crate::jwt::JwtVerifier;
use crate::ldap::{LdapAuthenticator, LdapLoginError};

/// A login refused, and why (nothing in it is secret: clients see it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalLoginError {
    /// The credentials are wrong (a bad token, a wrong password, an unknown user).
    #[error("{0}")]
    Refused(String),
    /// The directory could not be asked; not the user's fault, not counted against them.
    #[error("{0}")]
    Unavailable(String),
}

/// The identity sources beyond the configuration's users.
#[derive(Debug, Default, Clone)]
pub struct ExternalLogins {
    /// `[auth.jwt]`.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// `[auth.ldap]`.
    pub ldap: Option<Arc<LdapAuthenticator>>,
}

impl ExternalLogins {
    /// Whether any is configured.
    pub fn any(&self) -> bool {
        self.jwt.is_some() || self.ldap.is_some()
    }

    /// Whether passwords may come over Postgres wire without TLS: only when every
    /// source configured allows it (a directory password is as secret as any).
    pub fn allow_without_tls(&self) -> bool {
        self.any()
            && self
                .jwt
                .as_ref()
                .is_none_or(|j| j.config().allow_without_tls)
            && self
                .ldap
                .as_ref()
                .is_none_or(|l| l.config().allow_without_tls)
    }

    /// What the user is told to present.
    pub fn what_to_present(&self) -> &'static str {
        match (&self.jwt, &self.ldap) {
            (Some(_), Some(_)) => "a token from the identity provider or a directory password",
            (Some(_), None) => "a token from the identity provider",
            _ => "a directory password",
        }
    }

    /// The principal `user` signs in as with `password`: a token (which must be the
    /// user's) when it looks like one and tokens are taken, else a directory password.
    pub async fn login(&self, user: &str, password: &str) -> Result<Principal, ExternalLoginError> {
        if let Some(jwt) = &self.jwt
            && (JwtVerifier::looks_like_token(password) || self.ldap.is_none())
        {
            if !JwtVerifier::looks_like_token(password) {
                return Err(ExternalLoginError::Refused(
                    "the password is not a JWT (this user is not in the configuration; sign \
                     in with a token from the identity provider)"
                        .into(),
                ));
            }
            let principal = jwt
                .verify(password)
                .await
                .map_err(|e| ExternalLoginError::Refused(e.to_string()))?;
            if principal.user != user {
                return Err(ExternalLoginError::Refused(format!(
                    "the token is for user \"{}\"; connect as that user",
                    principal.user
                )));
            }
            return Ok(principal);
        }
        match &self.ldap {
            Some(ldap) => ldap.login(user, password).await.map_err(|e| match e {
                LdapLoginError::Refused(why) => ExternalLoginError::Refused(why),
                unavailable => ExternalLoginError::Unavailable(unavailable.to_string()),
            }),
            None => Err(ExternalLoginError::Refused(
                "no login source for users outside the configuration".into(),
            )),
        }
    }
}

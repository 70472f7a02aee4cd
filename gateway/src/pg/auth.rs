//! Password checks against the user store: SCRAM-SHA-256 verifiers, MD5 credentials,
//! and cleartext passwords checked against the verifiers.
//!
//! An unknown user goes through the whole SCRAM exchange with a mock verifier, as in
//! PostgreSQL: its salt is derived from the name and a key of this process, so the
//! same name always gets the same salt, and the exchange fails at the client's proof
//! exactly as a wrong password does. Nothing in the answers tells an unknown user from
//! a known one.

use std::sync::Arc;

use async_trait::async_trait;
use lakegate_security::external::{ExternalLoginError, ExternalLogins};
use lakegate_security::jwt::JwtVerifier;
use lakegate_security::{Principal, UserStore};
use pgwire::api::ClientInfo;
use pgwire::api::auth::mechanism::{AuthMechanism, AuthMechanismFactory, AuthState};
use pgwire::api::auth::sasl::scram::ScramSecret;
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::startup::PasswordMessageFamily;

/// Looks users up in the store; the password itself is never held.
pub(crate) struct VerifierSource {
    pub(crate) users: Arc<UserStore>,
    /// The key unknown users' mock salts are derived with (random per process).
    pub(crate) mock_key: [u8; 32],
}

impl std::fmt::Debug for VerifierSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierSource").finish_non_exhaustive()
    }
}

impl VerifierSource {
    pub(crate) fn new(users: Arc<UserStore>) -> Self {
        Self {
            users,
            mock_key: rand::random(),
        }
    }

    /// A verifier no password matches, with a salt that depends only on `user`.
    fn mock_verifier(&self, user: &str) -> ScramSecret {
        use hmac::{Hmac, Mac};
        let mac = |label: &[u8]| {
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.mock_key)
                .expect("HMAC takes a key of any length");
            mac.update(label);
            mac.update(user.as_bytes());
            mac.finalize().into_bytes().to_vec()
        };
        ScramSecret::Verifier {
            salt: mac(b"salt")[..16].to_vec(),
            iterations: lakegate_security::DEFAULT_ITERATIONS as usize,
            stored_key: mac(b"stored key"),
            server_key: mac(b"server key"),
        }
    }
}

fn failed(login: &LoginInfo) -> PgWireError {
    PgWireError::InvalidPassword(login.user().unwrap_or_default().to_owned())
}

#[async_trait]
impl AuthSource for VerifierSource {
    /// The MD5 challenge: a fresh salt and the answer expected for it,
    /// `md5` + md5(stored hash + salt). Only users with an MD5 credential get here.
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let Some(stored) = self.users.md5_hash(user) else {
            return Err(failed(login));
        };
        let salt: [u8; 4] = rand::random();
        let mut salted = stored.as_bytes().to_vec();
        salted.extend_from_slice(&salt);
        let expected = format!("md5{:x}", md5::compute(salted));
        Ok(Password::new(Some(salt.to_vec()), expected.into_bytes()))
    }

    /// A cleartext password, checked against the SCRAM verifier (constant time).
    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented_password: &[u8],
    ) -> PgWireResult<Option<()>> {
        let user = login.user().unwrap_or_default();
        let password = std::str::from_utf8(presented_password).map_err(|_| failed(login))?;
        match self.users.verify_password(user, password) {
            Some(_) => Ok(None),
            None => Err(failed(login)),
        }
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        let Some((verifier, _)) = self.users.scram_credentials(user) else {
            tracing::info!(
                user,
                "unknown user: the SCRAM exchange runs on a mock verifier"
            );
            return Ok((self.mock_verifier(user), None));
        };
        Ok((
            ScramSecret::Verifier {
                salt: verifier.salt.clone(),
                iterations: verifier.iterations as usize,
                stored_key: verifier.stored_key.clone(),
                server_key: verifier.server_key.clone(),
            },
            None,
        ))
    }
}

/// The start of the error a refused token gets; the error handler counts and audits
/// these as failed logins.
pub(crate) const TOKEN_REFUSED: &str = "token authentication failed for user";
/// The same for a directory password refused.
pub(crate) const LDAP_REFUSED: &str = "LDAP authentication failed for user";

/// Logins of users the configuration does not hold: the cleartext password is a JWT,
/// verified against the identity provider's keys, or a directory password, checked by
/// an LDAP bind; the principal is the token's or the directory's.
pub(crate) struct ExternalSource {
    pub(crate) logins: Arc<ExternalLogins>,
}

impl std::fmt::Debug for ExternalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalSource").finish_non_exhaustive()
    }
}

#[async_trait]
impl AuthSource<Principal> for ExternalSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(failed(login))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented_password: &[u8],
    ) -> PgWireResult<Option<Principal>> {
        let user = login.user().unwrap_or_default();
        let password = std::str::from_utf8(presented_password).unwrap_or_default();
        let by_token = self.logins.jwt.is_some()
            && (JwtVerifier::looks_like_token(password) || self.logins.ldap.is_none());
        let prefix = if by_token {
            TOKEN_REFUSED
        } else {
            LDAP_REFUSED
        };
        match self.logins.login(user, password).await {
            Ok(principal) => Ok(Some(principal)),
            Err(ExternalLoginError::Refused(why)) => Err(super::errors::fatal(
                lakegate_planner::ErrorKind::InvalidAuthorization,
                format!("{prefix} \"{user}\": {why}"),
            )),
            Err(ExternalLoginError::Unavailable(why)) => {
                tracing::warn!(user, reason = %why, "LDAP directory unavailable");
                Err(super::errors::fatal(
                    lakegate_planner::ErrorKind::InvalidAuthorization,
                    format!("LDAP authentication is unavailable for user \"{user}\": {why}"),
                ))
            }
        }
    }
}

/// A password mechanism of the configuration's users, which report no identity (the
/// session takes the configured principal), for the driver whose token logins do.
pub(crate) struct WithoutIdentity<F>(pub(crate) F);

impl<F: AuthMechanismFactory> AuthMechanismFactory<Principal> for WithoutIdentity<F> {
    fn create(&self) -> Box<dyn AuthMechanism<Principal>> {
        Box::new(NoIdentity(self.0.create()))
    }
}

struct NoIdentity(Box<dyn AuthMechanism>);

fn no_identity(state: AuthState) -> AuthState<Principal> {
    match state {
        AuthState::InProgress(message) => AuthState::InProgress(message),
        AuthState::Ok { final_message, .. } => AuthState::Ok {
            final_message,
            identity: None,
        },
        AuthState::Failed(error) => AuthState::Failed(error),
    }
}

#[async_trait]
impl AuthMechanism<Principal> for NoIdentity {
    async fn begin(
        &mut self,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> PgWireResult<AuthState<Principal>> {
        Ok(no_identity(self.0.begin(client).await?))
    }

    async fn next(
        &mut self,
        client: &(dyn ClientInfo + Send + Sync),
        message: PasswordMessageFamily,
    ) -> PgWireResult<AuthState<Principal>> {
        Ok(no_identity(self.0.next(client, message).await?))
    }
}

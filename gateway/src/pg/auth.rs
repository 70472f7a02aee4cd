//! Password checks against the user store: SCRAM-SHA-256 verifiers, MD5 credentials,
//! and cleartext passwords checked against the verifiers.

use std::sync::Arc;

use async_trait::async_trait;
use lakegate_security::UserStore;
use pgwire::api::auth::sasl::scram::ScramSecret;
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::{PgWireError, PgWireResult};

/// Looks users up in the store; the password itself is never held.
#[derive(Debug)]
pub(crate) struct VerifierSource {
    pub(crate) users: Arc<UserStore>,
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
            tracing::info!(user, "login refused: unknown user");
            return Err(failed(login));
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

//! SCRAM-SHA-256 authentication against the user store's verifiers.

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
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Only SCRAM is offered, which uses `get_scram_secret`; no cleartext exists.
        Err(failed(login))
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

//! Connection start-up: TLS policy, then the listener's password method, chosen per
//! login where PostgreSQL does (an `md5` listener uses SCRAM for users without an MD5
//! credential).

use super::errors::fatal;
use lakegate_planner::ErrorKind;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use lakegate_security::UserStore;
use pgwire::api::auth::cleartext::CleartextPasswordAuth;
use pgwire::api::auth::driver::{AuthDriver, AuthOutcome};
use pgwire::api::auth::md5pass::Md5PasswordAuth;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, METADATA_USER};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::auth::VerifierSource;
use super::message_check::FirstPassword;
use crate::config::AuthMethod;

/// The start-up handler shared by every connection of a listener.
pub(crate) struct GatewayStartup {
    driver: AuthDriver<DefaultServerParameterProvider>,
    method: AuthMethod,
    require_tls: bool,
    users: Arc<UserStore>,
    scram: ScramAuth,
    /// SCRAM that also offers SCRAM-SHA-256-PLUS: only on TLS connections (libpq
    /// rightly refuses a server that offers channel binding without TLS).
    scram_plus: Option<ScramAuth>,
    md5: Md5PasswordAuth<VerifierSource>,
    cleartext: CleartextPasswordAuth<VerifierSource>,
}

impl GatewayStartup {
    /// `cert_pem`: the TLS certificate chain, which enables SCRAM-SHA-256-PLUS.
    pub(crate) fn new(
        parameters: DefaultServerParameterProvider,
        users: Arc<UserStore>,
        method: AuthMethod,
        cert_pem: Option<&[u8]>,
        require_tls: bool,
    ) -> PgWireResult<Self> {
        let source = Arc::new(VerifierSource::new(users.clone()));
        let scram = ScramAuth::new(source.clone());
        let scram_plus = match cert_pem {
            Some(pem) => {
                let mut plus = ScramAuth::new(source.clone());
                plus.configure_certificate(pem)?;
                Some(plus)
            }
            None => None,
        };
        Ok(Self {
            driver: AuthDriver::new(parameters),
            method,
            require_tls,
            users,
            scram,
            scram_plus,
            md5: Md5PasswordAuth::new(source.clone()),
            cleartext: CleartextPasswordAuth::new(source),
        })
    }

    fn mechanism_for(&self, user: &str, secure: bool) -> &dyn AuthMechanismFactory {
        let scram = match &self.scram_plus {
            Some(plus) if secure => plus,
            _ => &self.scram,
        };
        match (first_password(self.method, &self.users, user), self.method) {
            (FirstPassword::SaslStart, _) => scram,
            (FirstPassword::Password, AuthMethod::Md5) => &self.md5,
            (FirstPassword::Password, _) => &self.cleartext,
        }
    }
}

/// What `user`'s first password message holds under the listener's `method`: SCRAM
/// (a SASL start) unless the listener takes cleartext passwords, or MD5 and the user
/// has an MD5 credential.
pub(crate) fn first_password(method: AuthMethod, users: &UserStore, user: &str) -> FirstPassword {
    match method {
        AuthMethod::ScramSha256 => FirstPassword::SaslStart,
        AuthMethod::Md5 if users.md5_hash(user).is_some() => FirstPassword::Password,
        AuthMethod::Md5 => FirstPassword::SaslStart,
        AuthMethod::Password => FirstPassword::Password,
    }
}

#[async_trait]
impl StartupHandler for GatewayStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if self.require_tls && !client.is_secure() {
                    return Err(fatal(
                        ErrorKind::InvalidAuthorization,
                        "this server accepts only TLS connections (connect with sslmode=require)"
                            .to_string(),
                    ));
                }
                let user = client
                    .metadata()
                    .get(METADATA_USER)
                    .cloned()
                    .unwrap_or_default();
                let mechanism = self.mechanism_for(&user, client.is_secure()).create();
                self.driver.begin_authentication(client, mechanism).await?;
                Ok(())
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                match self.driver.advance_authentication(client, message).await? {
                    AuthOutcome::Authenticated { final_message, .. } => {
                        self.driver
                            .complete_authentication(client, final_message)
                            .await
                    }
                    AuthOutcome::InProgress => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

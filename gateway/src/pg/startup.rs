//! Connection start-up: TLS policy, then the listener's password method, chosen per
//! login where PostgreSQL does (an `md5` listener uses SCRAM for users without an MD5
//! credential); with `[auth.jwt]` or `[auth.ldap]`, users the configuration does not hold
//! sign in with a token or their directory password as a cleartext password (over TLS
//! unless allowed otherwise).

use super::errors::fatal;
use lakegate_planner::ErrorKind;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use lakegate_security::external::ExternalLogins;
use lakegate_security::{Principal, UserStore};
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

use super::auth::{ExternalSource, VerifierSource, WithoutIdentity};
use super::message_check::FirstPassword;
use crate::config::AuthMethod;

/// The start-up handler shared by every connection of a listener.
pub(crate) struct GatewayStartup {
    driver: AuthDriver<DefaultServerParameterProvider, Principal>,
    method: AuthMethod,
    require_tls: bool,
    users: Arc<UserStore>,
    scram: WithoutIdentity<ScramAuth>,
    /// SCRAM that also offers SCRAM-SHA-256-PLUS: only on TLS connections (libpq
    /// rightly refuses a server that offers channel binding without TLS).
    scram_plus: Option<WithoutIdentity<ScramAuth>>,
    md5: WithoutIdentity<Md5PasswordAuth<VerifierSource>>,
    cleartext: WithoutIdentity<CleartextPasswordAuth<VerifierSource>>,
    /// Logins of users outside the configuration (tokens, directory passwords), what
    /// they present, and whether they are taken without TLS.
    external: Option<(CleartextPasswordAuth<ExternalSource>, &'static str, bool)>,
}

/// The client metadata key the principal of a token login is kept under (JSON), for
/// the session the connection opens.
pub(crate) const METADATA_PRINCIPAL: &str = "lakegate.principal";

impl GatewayStartup {
    /// `cert_pem`: the TLS certificate chain, which enables SCRAM-SHA-256-PLUS.
    pub(crate) fn new(
        parameters: DefaultServerParameterProvider,
        users: Arc<UserStore>,
        method: AuthMethod,
        cert_pem: Option<&[u8]>,
        require_tls: bool,
        external: Option<Arc<ExternalLogins>>,
    ) -> PgWireResult<Self> {
        let source = Arc::new(VerifierSource::new(users.clone()));
        let scram = ScramAuth::new(source.clone());
        let scram_plus = match cert_pem {
            Some(pem) => {
                let mut plus = ScramAuth::new(source.clone());
                plus.configure_certificate(pem)?;
                Some(WithoutIdentity(plus))
            }
            None => None,
        };
        Ok(Self {
            driver: AuthDriver::new(parameters),
            method,
            require_tls,
            users,
            scram: WithoutIdentity(scram),
            scram_plus,
            md5: WithoutIdentity(Md5PasswordAuth::new(source.clone())),
            cleartext: WithoutIdentity(CleartextPasswordAuth::new(source)),
            external: external.map(|logins| {
                let present = logins.what_to_present();
                let without_tls = logins.allow_without_tls();
                (
                    CleartextPasswordAuth::new(Arc::new(ExternalSource { logins })),
                    present,
                    without_tls,
                )
            }),
        })
    }

    fn mechanism_for(
        &self,
        user: &str,
        secure: bool,
    ) -> PgWireResult<&dyn AuthMechanismFactory<Principal>> {
        if let Some((external, present, without_tls)) = &self.external
            && self.users.principal(user).is_none()
        {
            if !secure && !without_tls {
                return Err(fatal(
                    ErrorKind::InvalidAuthorization,
                    format!(
                        "\"{user}\" signs in with {present}, which is taken only over TLS \
                         (connect with sslmode=require)"
                    ),
                ));
            }
            return Ok(external);
        }
        let scram = match &self.scram_plus {
            Some(plus) if secure => plus,
            _ => &self.scram,
        };
        Ok(
            match (
                first_password(self.method, &self.users, user, false),
                self.method,
            ) {
                (FirstPassword::SaslStart, _) => scram,
                (FirstPassword::Password, AuthMethod::Md5) => &self.md5,
                (FirstPassword::Password, _) => &self.cleartext,
            },
        )
    }
}

/// What `user`'s first password message holds under the listener's `method`: SCRAM
/// (a SASL start) unless the listener takes cleartext passwords, or MD5 and the user
/// has an MD5 credential; with `tokens` (JWT logins on), a user the configuration does
/// not hold sends its token as a password.
pub(crate) fn first_password(
    method: AuthMethod,
    users: &UserStore,
    user: &str,
    tokens: bool,
) -> FirstPassword {
    if tokens && users.principal(user).is_none() {
        return FirstPassword::Password;
    }
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
                let mechanism = self.mechanism_for(&user, client.is_secure())?.create();
                self.driver.begin_authentication(client, mechanism).await?;
                Ok(())
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                match self.driver.advance_authentication(client, message).await? {
                    AuthOutcome::Authenticated {
                        final_message,
                        identity,
                    } => {
                        if let Some(principal) = identity {
                            let json = serde_json::to_string(&principal).map_err(|e| {
                                fatal(ErrorKind::Internal, format!("keeping the principal: {e}"))
                            })?;
                            client
                                .metadata_mut()
                                .insert(METADATA_PRINCIPAL.to_string(), json);
                        }
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

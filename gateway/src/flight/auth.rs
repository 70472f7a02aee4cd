//! Flight SQL authentication: Basic credentials in the handshake, then signed, expiring
//! bearer tokens on every later call.
//!
//! A token is `base64url(claims) "." base64url(HMAC-SHA256(key, "token" claims))`, the
//! claims being a version byte, issue and expiry times, a nonce and the user name.
//! Nothing is stored server-side: any gateway holding the key accepts the token, and a
//! token names a user that must still exist when it is used.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use lakegate_security::external::ExternalLogins;
use lakegate_security::jwt::JwtVerifier;
use lakegate_security::ldap::{LdapAuthenticator, LdapLoginError};
use lakegate_security::{Principal, UserStore};
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::login_throttle::LoginThrottle;

pub(crate) use lakegate_security::signer::{Signer, TAG_LEN};

const TOKEN_VERSION: u8 = 1;

/// The protocol name failed logins are audited under.
const PROTOCOL: &str = "flight-sql";

/// The address a call came from, for login throttling (unspecified when the transport
/// does not say).
pub(crate) fn peer_ip<T>(request: &tonic::Request<T>) -> IpAddr {
    request
        .remote_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip())
}
/// Seconds since the Unix epoch.
pub(crate) fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Issues and checks bearer tokens, and authenticates calls.
#[derive(Debug)]
pub(crate) struct Authenticator {
    pub(crate) signer: Signer,
    users: std::sync::Arc<UserStore>,
    ttl: Duration,
    /// Failed logins, shared with the Postgres wire listener.
    throttle: std::sync::Arc<LoginThrottle>,
    /// Tokens of the identity provider (`[auth.jwt]`), when configured.
    jwt: Option<std::sync::Arc<JwtVerifier>>,
    /// Directory passwords (`[auth.ldap]`), when configured.
    ldap: Option<std::sync::Arc<LdapAuthenticator>>,
    /// The principals of directory logins, by user, until the bearer tokens issued to
    /// them expire (a bearer token names only its user).
    directory_principals: Mutex<HashMap<String, (Principal, u64)>>,
}

/// The JWT an `authorization` header presents, if any: a bearer token shaped as a
/// JWT, or the password of Basic credentials shaped as one.
pub(crate) fn jwt_in(metadata: &MetadataMap) -> Option<String> {
    let header = metadata.get("authorization")?.to_str().ok()?.trim();
    let (scheme, value) = header.split_once(' ')?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return JwtVerifier::looks_like_token(value).then(|| value.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let (_, password) = decode_basic(value).ok()?;
        return JwtVerifier::looks_like_token(&password).then_some(password);
    }
    None
}

/// Basic credentials (`user:password`, base64 with or without padding).
fn decode_basic(encoded: &str) -> Result<(String, String), &'static str> {
    let encoded = encoded.trim();
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| "Basic credentials are not valid base64")?;
    let text = String::from_utf8(decoded).map_err(|_| "Basic credentials are not UTF-8")?;
    let (user, password) = text
        .split_once(':')
        .ok_or("Basic credentials must be user:password")?;
    Ok((user.to_string(), password.to_string()))
}

impl Authenticator {
    pub(crate) fn new(
        signer: Signer,
        users: std::sync::Arc<UserStore>,
        ttl: Duration,
        throttle: std::sync::Arc<LoginThrottle>,
    ) -> Self {
        Self {
            signer,
            users,
            ttl,
            throttle,
            jwt: None,
            ldap: None,
            directory_principals: Mutex::new(HashMap::new()),
        }
    }

    /// Takes tokens of the identity provider and directory passwords too.
    pub(crate) fn with_external(mut self, logins: &ExternalLogins) -> Self {
        self.jwt = logins.jwt.clone();
        self.ldap = logins.ldap.clone();
        self
    }

    /// Checks a directory password of `user` from `peer`; a refusal is counted and
    /// audited as a failed login, an unreachable directory is UNAVAILABLE.
    async fn check_ldap(
        &self,
        ldap: &LdapAuthenticator,
        user: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<Principal, Status> {
        self.throttle
            .check(user, peer, PROTOCOL)
            .map_err(Status::unauthenticated)?;
        match ldap.login(user, password).await {
            Ok(principal) => {
                self.throttle.succeeded(user, peer);
                let expires = now_seconds().saturating_add(self.ttl.as_secs().max(1));
                let mut remembered = self
                    .directory_principals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let now = now_seconds();
                remembered.retain(|_, (_, until)| *until > now);
                remembered.insert(user.to_string(), (principal.clone(), expires));
                Ok(principal)
            }
            Err(LdapLoginError::Refused(why)) => {
                let reason = format!("LDAP authentication failed for user \"{user}\": {why}");
                self.throttle.failed(user, peer, PROTOCOL, &reason);
                Err(Status::unauthenticated(reason))
            }
            Err(unavailable) => {
                tracing::warn!(user, reason = %unavailable, "LDAP directory unavailable");
                Err(Status::unavailable(format!(
                    "LDAP authentication is unavailable for user \"{user}\": {unavailable}"
                )))
            }
        }
    }

    /// The principal of a directory login that a bearer token of `user` stands for.
    fn directory_principal(&self, user: &str) -> Option<Principal> {
        let remembered = self
            .directory_principals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        remembered
            .get(user)
            .filter(|(_, until)| *until > now_seconds())
            .map(|(principal, _)| principal.clone())
    }

    /// The JWT a handshake presented (see [`jwt_in`]), when token logins are on: the
    /// handshake answers with it as the session's bearer token.
    pub(crate) fn presented_jwt(&self, presented: Option<&str>) -> Option<String> {
        self.jwt.as_ref().and(presented.map(str::to_string))
    }

    /// Verifies an identity provider's token from `peer`; a refusal is counted and
    /// audited as a failed login of `claimed` (the user it was presented for, if any).
    async fn check_jwt(
        &self,
        verifier: &JwtVerifier,
        token: &str,
        claimed: Option<&str>,
        peer: IpAddr,
    ) -> Result<Principal, Status> {
        let label = claimed.unwrap_or("(bearer token)");
        self.throttle
            .check(label, peer, PROTOCOL)
            .map_err(Status::unauthenticated)?;
        let verified = verifier
            .verify(token)
            .await
            .and_then(|principal| match claimed {
                Some(user) if user != principal.user => {
                    Err(lakegate_security::jwt::JwtError(format!(
                        "the token is for user \"{}\", not \"{user}\"",
                        principal.user
                    )))
                }
                _ => Ok(principal),
            });
        match verified {
            Ok(principal) => {
                self.throttle.succeeded(&principal.user, peer);
                Ok(principal)
            }
            Err(e) => {
                let reason = format!("token authentication failed for {label}: {e}");
                self.throttle.failed(label, peer, PROTOCOL, &reason);
                Err(Status::unauthenticated(reason))
            }
        }
    }

    /// A new token for `user`.
    pub(crate) fn issue(&self, user: &str) -> String {
        let issued = now_seconds();
        let expires = issued.saturating_add(self.ttl.as_secs().max(1));
        let nonce: [u8; 12] = rand::random();
        let mut claims = Vec::with_capacity(29 + user.len());
        claims.push(TOKEN_VERSION);
        claims.extend_from_slice(&issued.to_be_bytes());
        claims.extend_from_slice(&expires.to_be_bytes());
        claims.extend_from_slice(&nonce);
        claims.extend_from_slice(user.as_bytes());
        let tag = self.signer.sign(b"token", &claims);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&claims),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The user a token was issued to, if it is genuine and unexpired.
    fn check_token(&self, token: &str) -> Result<String, Status> {
        let invalid = || Status::unauthenticated("invalid bearer token; handshake again");
        let (claims, tag) = token.trim().split_once('.').ok_or_else(invalid)?;
        let claims = URL_SAFE_NO_PAD.decode(claims).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        if claims.len() < 29 || !self.signer.verify(b"token", &claims, &tag) {
            return Err(invalid());
        }
        if claims[0] != TOKEN_VERSION {
            return Err(Status::unauthenticated(
                "bearer token of an unsupported version; handshake again",
            ));
        }
        let expires = u64::from_be_bytes(claims[9..17].try_into().map_err(|_| invalid())?);
        if now_seconds() >= expires {
            return Err(Status::unauthenticated(
                "bearer token expired; handshake again",
            ));
        }
        String::from_utf8(claims[29..].to_vec()).map_err(|_| invalid())
    }

    /// Checks Basic credentials (`user:password`, base64 with or without padding).
    pub(crate) async fn check_basic(
        &self,
        encoded: &str,
        peer: IpAddr,
    ) -> Result<Principal, Status> {
        let (user, password) = decode_basic(encoded).map_err(Status::unauthenticated)?;
        self.check_password(&user, &password, peer).await
    }

    /// Checks a user's password from `peer`: refused without a check while the user
    /// or the address is locked out by failed logins; a failure is counted and audited.
    /// A user the configuration does not hold signs in with a token of the identity
    /// provider as its password, when token logins are on.
    pub(crate) async fn check_password(
        &self,
        user: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<Principal, Status> {
        if let Some(verifier) = &self.jwt
            && self.users.principal(user).is_none()
            && JwtVerifier::looks_like_token(password)
        {
            return self.check_jwt(verifier, password, Some(user), peer).await;
        }
        if let Some(ldap) = &self.ldap
            && self.users.principal(user).is_none()
        {
            return self.check_ldap(ldap, user, password, peer).await;
        }
        self.throttle
            .check(user, peer, PROTOCOL)
            .map_err(Status::unauthenticated)?;
        match self.users.verify_password(user, password) {
            Some(principal) => {
                self.throttle.succeeded(user, peer);
                Ok(principal)
            }
            None => {
                let reason = format!("password authentication failed for user \"{user}\"");
                self.throttle.failed(user, peer, PROTOCOL, &reason);
                Err(Status::unauthenticated(reason))
            }
        }
    }

    /// The principal of a call, from its `authorization` header: a bearer token, or
    /// Basic credentials (clients that skip the handshake).
    pub(crate) async fn authenticate(
        &self,
        metadata: &MetadataMap,
        peer: IpAddr,
    ) -> Result<Principal, Status> {
        let header = metadata
            .get("authorization")
            .ok_or_else(|| {
                Status::unauthenticated(
                    "no credentials: handshake with Basic credentials, then send the bearer token",
                )
            })?
            .to_str()
            .map_err(|_| Status::unauthenticated("the authorization header is not text"))?;
        let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            if let Some(verifier) = &self.jwt
                && JwtVerifier::looks_like_token(value.trim())
            {
                return self.check_jwt(verifier, value.trim(), None, peer).await;
            }
            let user = self.check_token(value)?;
            self.users
                .principal(&user)
                .or_else(|| self.directory_principal(&user))
                .ok_or_else(|| Status::unauthenticated(format!("user \"{user}\" no longer exists")))
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.check_basic(value, peer).await
        } else {
            Err(Status::unauthenticated(format!(
                "unsupported authorization scheme \"{scheme}\"; use Basic or Bearer"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakegate_security::{ScramVerifier, UserConfig};

    fn authenticator(ttl: Duration) -> Authenticator {
        let users = UserStore::from_config(&[UserConfig {
            name: "ann".into(),
            password: ScramVerifier::derive("secret", b"salt", 16).to_string(),
            md5: None,
            attributes: Default::default(),
        }])
        .expect("users");
        let throttle = LoginThrottle::new(
            &crate::config::LoginConfig::default(),
            std::sync::Arc::new(lakegate_security::audit::AuditLog::disabled()),
        );
        Authenticator::new(
            Signer::random(),
            std::sync::Arc::new(users),
            ttl,
            std::sync::Arc::new(throttle),
        )
    }

    const HERE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn bearer(token: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        map
    }

    #[tokio::test]
    async fn tokens_round_trip_and_reject_tampering() {
        let auth = authenticator(Duration::from_secs(60));
        let token = auth.issue("ann");
        let principal = auth
            .authenticate(&bearer(&token), HERE)
            .await
            .expect("valid token");
        assert_eq!(principal.user, "ann");
        let mut forged = token.into_bytes();
        let at = forged.len() / 3;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        let error = auth
            .authenticate(&bearer(&forged), HERE)
            .await
            .expect_err("forged");
        assert_eq!(error.code(), tonic::Code::Unauthenticated);
        let other = authenticator(Duration::from_secs(60));
        assert!(
            other
                .authenticate(&bearer(&auth.issue("ann")), HERE)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn basic_accepts_padding_or_none() {
        let auth = authenticator(Duration::from_secs(60));
        for encoded in [
            STANDARD.encode("ann:secret"),
            STANDARD_NO_PAD.encode("ann:secret"),
        ] {
            assert_eq!(
                auth.check_basic(&encoded, HERE).await.expect("valid").user,
                "ann"
            );
        }
        let error = auth
            .check_basic(&STANDARD.encode("ann:wrong"), HERE)
            .await
            .expect_err("bad password");
        assert!(error.message().contains("password authentication failed"));
    }

    #[tokio::test]
    async fn repeated_failures_lock_the_user_out() {
        let auth = authenticator(Duration::from_secs(60));
        for _ in 0..5 {
            let error = auth
                .check_password("ann", "wrong", HERE)
                .await
                .expect_err("wrong");
            assert!(error.message().contains("password authentication failed"));
        }
        // Locked: even the right password is refused, without being checked.
        let error = auth
            .check_password("ann", "secret", HERE)
            .await
            .expect_err("locked");
        assert_eq!(error.code(), tonic::Code::Unauthenticated);
        assert!(
            error.message().contains("too many failed logins"),
            "{error}"
        );
    }
}

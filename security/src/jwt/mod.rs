//! JWT logins (OIDC access or ID tokens): a token signed by the identity provider's key
//! (RS256 or ES256, never `none`, never an HMAC), for this gateway's audience, from the
//! configured issuer, within its validity, becomes a [`Principal`]: a user name from a
//! claim, roles from a groups claim, and the other claims as attributes.

mod jwks;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Principal;
use jwks::{KeyCache, PublicKey, Source};

/// The longest token accepted (a provider's tokens with many groups stay far below).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Registered claims, never copied into attributes.
const REGISTERED: [&str; 8] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "name"];

/// `[auth.jwt]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry (one of them, when it is a list).
    pub audience: String,
    /// A JWKS file (read again when a token names an unknown key).
    pub jwks_file: Option<String>,
    /// An HTTPS URL serving the JWKS (cached, fetched again on an unknown key).
    pub jwks_url: Option<String>,
    /// A PEM file of extra root certificates for `jwks_url` (a private CA).
    pub jwks_ca_file: Option<String>,
    /// The longest the key set is kept before it is read again.
    pub jwks_max_age_seconds: u64,
    /// Signature algorithms accepted: `RS256`, `ES256`.
    pub algorithms: Vec<String>,
    /// Tolerance for `exp`, `nbf` and `iat` against this machine's clock.
    pub clock_skew_seconds: u64,
    /// The claim holding the user name.
    pub user_claim: String,
    /// The claim holding the user's groups (a list of strings, or one string).
    pub groups_claim: String,
    /// Prepended to each group to name the policy role it maps to (`role:` + group).
    pub role_prefix: String,
    /// Postgres wire: take tokens as cleartext passwords on connections without TLS.
    pub allow_without_tls: bool,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: String::new(),
            jwks_file: None,
            jwks_url: None,
            jwks_ca_file: None,
            jwks_max_age_seconds: 3600,
            algorithms: vec!["RS256".into(), "ES256".into()],
            clock_skew_seconds: 60,
            user_claim: "sub".into(),
            groups_claim: "groups".into(),
            role_prefix: "role:".into(),
            allow_without_tls: false,
        }
    }
}

/// A token refused, and why (for the log and the audit record; clients see it too:
/// nothing in it is secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JwtError(pub String);

fn refuse(why: impl Into<String>) -> JwtError {
    JwtError(why.into())
}

/// Verifies tokens against one issuer's keys.
#[derive(Debug)]
pub struct JwtVerifier {
    config: JwtConfig,
    keys: KeyCache,
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

impl JwtVerifier {
    /// Checks the configuration and reads the key set once (an unreadable set is a
    /// start-up error, not a gateway that refuses every token).
    pub async fn new(config: JwtConfig) -> Result<Self, String> {
        if config.issuer.is_empty() || config.audience.is_empty() {
            return Err("[auth.jwt] needs issuer and audience".into());
        }
        for alg in &config.algorithms {
            if alg != "RS256" && alg != "ES256" {
                return Err(format!(
                    "[auth.jwt] algorithms: {alg:?} is not accepted (RS256, ES256)"
                ));
            }
        }
        let source = match (&config.jwks_file, &config.jwks_url) {
            (Some(file), None) => Source::File(file.into()),
            (None, Some(url)) => {
                if !url.starts_with("https://") {
                    return Err(format!("[auth.jwt] jwks_url must be https://, not {url}"));
                }
                let mut client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::none());
                if let Some(ca) = &config.jwks_ca_file {
                    let pem = std::fs::read(ca).map_err(|e| format!("reading {ca}: {e}"))?;
                    for cert in reqwest::Certificate::from_pem_bundle(&pem)
                        .map_err(|e| format!("{ca}: {e}"))?
                    {
                        client = client.add_root_certificate(cert);
                    }
                }
                let client = client
                    .build()
                    .map_err(|e| format!("[auth.jwt] HTTPS client: {e}"))?;
                Source::Url {
                    url: url.clone(),
                    client,
                }
            }
            _ => return Err("[auth.jwt] needs one of jwks_file or jwks_url".into()),
        };
        let keys = KeyCache::new(
            source,
            Duration::from_secs(config.jwks_max_age_seconds.max(1)),
            Duration::from_secs(10),
        );
        let count = keys.load().await?;
        tracing::info!(keys = count, issuer = %config.issuer, "JWT key set loaded");
        Ok(Self { config, keys })
    }

    /// The configuration in force.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Whether `text` has the shape of a JWT (three base64url parts), to tell a token
    /// from a password.
    pub fn looks_like_token(text: &str) -> bool {
        let parts: Vec<&str> = text.split('.').collect();
        parts.len() == 3
            && parts[0].starts_with("eyJ")
            && parts.iter().all(|p| {
                p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    }

    /// The principal a valid token names.
    pub async fn verify(&self, token: &str) -> Result<Principal, JwtError> {
        self.verify_at(token, chrono::Utc::now().timestamp()).await
    }

    async fn verify_at(&self, token: &str, now: i64) -> Result<Principal, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(refuse(format!(
                "the token is longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refuse(
                "not a JWT (three base64url parts separated by dots)",
            ));
        };
        let decode = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| refuse(format!("the token's {what} is not base64url")))
        };
        let header: Header = serde_json::from_slice(&decode(header, "header")?)
            .map_err(|e| refuse(format!("the token's header is not valid: {e}")))?;
        if header.crit.is_some() {
            return Err(refuse("the token has critical header extensions (crit)"));
        }
        if !self.config.algorithms.iter().any(|a| a == &header.alg) {
            return Err(refuse(format!(
                "the token's algorithm {:?} is not accepted ({})",
                header.alg,
                self.config.algorithms.join(", ")
            )));
        }
        let kid = header.kid.unwrap_or_default();
        let (key, published_alg) = self.keys.key(&kid).await.map_err(refuse)?;
        if published_alg
            .as_deref()
            .is_some_and(|alg| alg != header.alg)
        {
            return Err(refuse(format!(
                "the token's algorithm {} is not its key's",
                header.alg
            )));
        }
        let signed_len = token.len() - signature.len() - 1;
        let signed = &token.as_bytes()[..signed_len];
        let signature = decode(signature, "signature")?;
        let verified = match (header.alg.as_str(), &key) {
            ("RS256", PublicKey::Rsa { n, e }) => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, signed, &signature)
                .is_ok(),
            ("ES256", PublicKey::EcP256 { point }) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(signed, &signature)
                    .is_ok()
            }
            (alg, _) => {
                return Err(refuse(format!(
                    "the token's algorithm {alg} does not match its key's type"
                )));
            }
        };
        if !verified {
            return Err(refuse("the token's signature is not valid"));
        }
        let claims: serde_json::Map<String, Value> =
            serde_json::from_slice(&decode(payload, "payload")?)
                .map_err(|e| refuse(format!("the token's claims are not a JSON object: {e}")))?;
        self.check_claims(&claims, now)?;
        self.principal(&claims)
    }

    fn check_claims(
        &self,
        claims: &serde_json::Map<String, Value>,
        now: i64,
    ) -> Result<(), JwtError> {
        let skew = self.config.clock_skew_seconds as i64;
        match claims.get("iss").and_then(Value::as_str) {
            Some(iss) if iss == self.config.issuer => {}
            Some(iss) => return Err(refuse(format!("the token's issuer {iss:?} is not trusted"))),
            None => return Err(refuse("the token has no issuer (iss)")),
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == &self.config.audience,
            Some(Value::Array(auds)) => auds
                .iter()
                .any(|a| a.as_str() == Some(self.config.audience.as_str())),
            _ => return Err(refuse("the token has no audience (aud)")),
        };
        if !audience_ok {
            return Err(refuse(format!(
                "the token is not for this gateway (audience is not {:?})",
                self.config.audience
            )));
        }
        let time = |name: &str| claims.get(name).and_then(Value::as_i64);
        match time("exp") {
            Some(exp) if now > exp + skew => {
                return Err(refuse(format!("the token expired at {}", timestamp(exp))));
            }
            Some(_) => {}
            None => return Err(refuse("the token has no expiry (exp)")),
        }
        if let Some(nbf) = time("nbf")
            && now + skew < nbf
        {
            return Err(refuse(format!(
                "the token is not valid before {}",
                timestamp(nbf)
            )));
        }
        if let Some(iat) = time("iat")
            && now + skew < iat
        {
            return Err(refuse(format!(
                "the token was issued in the future ({})",
                timestamp(iat)
            )));
        }
        Ok(())
    }

    fn principal(&self, claims: &serde_json::Map<String, Value>) -> Result<Principal, JwtError> {
        let user = claims
            .get(&self.config.user_claim)
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty() && !u.chars().any(char::is_control))
            .ok_or_else(|| {
                refuse(format!(
                    "the token has no user name in claim {:?}",
                    self.config.user_claim
                ))
            })?;
        let groups: Vec<String> = match claims.get(&self.config.groups_claim) {
            Some(Value::Array(groups)) => groups
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(group)) => vec![group.clone()],
            _ => Vec::new(),
        };
        let mut attributes = BTreeMap::new();
        for (name, value) in claims {
            if REGISTERED.contains(&name.as_str())
                || name == &self.config.user_claim
                || name == &self.config.groups_claim
            {
                continue;
            }
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            attributes.insert(name.clone(), text);
        }
        let roles: Vec<String> = groups
            .into_iter()
            .filter(|g| !g.is_empty() && !g.chars().any(char::is_control))
            .map(|g| format!("{}{g}", self.config.role_prefix))
            .collect();
        Ok(Principal {
            user: user.to_string(),
            roles: roles.clone(),
            attributes,
            identity_roles: roles,
        })
    }
}

fn timestamp(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| seconds.to_string())
}

#[cfg(test)]
mod tests;

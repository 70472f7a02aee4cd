//! JSON Web Key Sets: the public keys tokens are verified with, read from a file or an
//! HTTPS URL, kept in memory and read again when a token names a key not yet known.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use tokio::sync::Mutex;

/// A public key of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// RSA (RS256): modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// P-256 (ES256): the uncompressed point `04 || x || y`.
    EcP256 { point: Vec<u8> },
}

#[derive(Debug, Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Debug, Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// The keys of a set by `kid` (keys without one under the empty string), with the
/// algorithm each was published for, if any.
pub(crate) type Keys = HashMap<String, (PublicKey, Option<String>)>;

/// Parses a JWKS document. Keys of other types, curves or uses (`enc`) are left out,
/// not errors: a provider's set often holds keys for other purposes.
pub(crate) fn parse(text: &[u8]) -> Result<Keys, String> {
    let set: JwkSet = serde_json::from_slice(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let b64 = |field: &Option<String>, name: &str| -> Result<Vec<u8>, String> {
        let value = field.as_deref().ok_or(format!("a key lacks {name}"))?;
        URL_SAFE_NO_PAD
            .decode(value.trim_end_matches('='))
            .map_err(|e| format!("a key's {name} is not base64url: {e}"))
    };
    let mut keys = Keys::new();
    for jwk in set.keys {
        if jwk.usage.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => PublicKey::Rsa {
                n: b64(&jwk.n, "n")?,
                e: b64(&jwk.e, "e")?,
            },
            ("EC", Some("P-256")) => {
                let (x, y) = (b64(&jwk.x, "x")?, b64(&jwk.y, "y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err("a P-256 key's x and y must be 32 bytes".into());
                }
                let mut point = vec![4u8];
                point.extend(x);
                point.extend(y);
                PublicKey::EcP256 { point }
            }
            _ => continue,
        };
        keys.insert(jwk.kid.unwrap_or_default(), (key, jwk.alg));
    }
    Ok(keys)
}

/// Where the set comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    File(std::path::PathBuf),
    Url {
        url: String,
        client: reqwest::Client,
    },
}

impl Source {
    async fn read(&self) -> Result<Keys, String> {
        match self {
            Source::File(path) => {
                let text = tokio::fs::read(path)
                    .await
                    .map_err(|e| format!("reading the JWKS file {}: {e}", path.display()))?;
                parse(&text).map_err(|e| format!("{}: {e}", path.display()))
            }
            Source::Url { url, client } => {
                let response = client
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| format!("fetching the JWKS from {url}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!(
                        "fetching the JWKS from {url}: HTTP {}",
                        response.status()
                    ));
                }
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| format!("fetching the JWKS from {url}: {e}"))?;
                parse(&body).map_err(|e| format!("{url}: {e}"))
            }
        }
    }
}

/// The set in memory: read at start, again when it is older than `max_age`, and again
/// (at most once per `min_refresh`) when a token names a key it does not hold — the
/// provider rotated its keys.
#[derive(Debug)]
pub(crate) struct KeyCache {
    source: Source,
    max_age: Duration,
    min_refresh: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    keys: Arc<Keys>,
    read_at: Option<Instant>,
    /// When a token's unknown key last made the set be read again.
    missed_at: Option<Instant>,
}

impl KeyCache {
    pub(crate) fn new(source: Source, max_age: Duration, min_refresh: Duration) -> Self {
        Self {
            source,
            max_age,
            min_refresh,
            state: Mutex::new(State {
                keys: Arc::new(Keys::new()),
                read_at: None,
                missed_at: None,
            }),
        }
    }

    /// Reads the set now (at start: a source that cannot be read is a start-up error).
    pub(crate) async fn load(&self) -> Result<usize, String> {
        let keys = self.source.read().await?;
        let count = keys.len();
        let mut state = self.state.lock().await;
        state.keys = Arc::new(keys);
        state.read_at = Some(Instant::now());
        Ok(count)
    }

    /// The key `kid` names, reading the set again when it is unknown or the set is old.
    pub(crate) async fn key(&self, kid: &str) -> Result<(PublicKey, Option<String>), String> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let stale = state.read_at.is_none_or(|at| now - at > self.max_age);
        // An unknown key reads the set again, but not more than once per `min_refresh`:
        // tokens naming made-up keys must not turn every login into a fetch.
        let unknown = !state.keys.contains_key(kid)
            && state.missed_at.is_none_or(|at| now - at > self.min_refresh);
        if unknown {
            state.missed_at = Some(now);
        }
        if stale || unknown {
            match self.source.read().await {
                Ok(keys) => {
                    state.keys = Arc::new(keys);
                    state.read_at = Some(now);
                }
                // Keep serving the keys held: a provider's outage must not lock everyone out.
                Err(e) => tracing::warn!(error = %e, "the JWKS could not be read again"),
            }
        }
        state.keys.get(kid).cloned().ok_or_else(|| match kid {
            "" => "the token names no key (kid) and the key set has no key without one".into(),
            kid => format!("the token's key {kid:?} is not in the key set"),
        })
    }
}

//! A test identity provider: RSA and P-256 keys generated per run, their JWKS, and
//! tokens signed with them (or deliberately not, for the refusal tests).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The issuer and audience tokens carry unless a test says otherwise.
pub const ISSUER: &str = "https://idp.test";
/// See [`ISSUER`].
pub const AUDIENCE: &str = "lakegate";

/// Signing keys and the key set publishing them.
pub struct TestIssuer {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    /// `kid` of the RSA key.
    pub rsa_kid: String,
    /// `kid` of the P-256 key.
    pub ec_kid: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestIssuer {
    /// Fresh keys; `tag` makes the kids differ between issuers of one test.
    pub fn new(tag: &str) -> Self {
        Self {
            rsa: RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"),
            ec: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key"),
            rsa_kid: format!("{tag}-rsa"),
            ec_kid: format!("{tag}-ec"),
        }
    }

    /// The JWKS document of both public keys.
    pub fn jwks(&self) -> String {
        let rsa = self.rsa.public_key();
        let point = self.ec.public_key().as_ref();
        json!({"keys": [
            {"kty": "RSA", "kid": self.rsa_kid, "use": "sig", "alg": "RS256",
             "n": b64(rsa.modulus().big_endian_without_leading_zero()),
             "e": b64(rsa.exponent().big_endian_without_leading_zero())},
            {"kty": "EC", "kid": self.ec_kid, "use": "sig", "crv": "P-256",
             "x": b64(&point[1..33]), "y": b64(&point[33..65])},
        ]})
        .to_string()
    }

    /// Claims valid for an hour for `user`, with `extra` merged in.
    pub fn claims(user: &str, extra: Value) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": user,
            "iat": now, "nbf": now - 5, "exp": now + 3600,
        });
        if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
            claims.extend(extra);
        }
        claims
    }

    /// `claims` signed with RS256 by the RSA key.
    pub fn rs256(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.rsa_kid}),
            claims,
        )
    }

    /// `claims` signed with ES256 by the P-256 key.
    pub fn es256(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": "ES256", "typ": "JWT", "kid": self.ec_kid}),
            claims,
        )
    }

    /// `claims` under `header`, signed with the key its `alg` names (RS256 or ES256);
    /// any other alg gets an empty signature.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let signature = match header["alg"].as_str() {
            Some("RS256") => {
                let mut signature = vec![0; self.rsa.public_modulus_len()];
                self.rsa
                    .sign(&RSA_PKCS1_SHA256, &rng, signed.as_bytes(), &mut signature)
                    .expect("RSA signature");
                signature
            }
            Some("ES256") => self
                .ec
                .sign(&rng, signed.as_bytes())
                .expect("EC signature")
                .as_ref()
                .to_vec(),
            _ => Vec::new(),
        };
        format!("{signed}.{}", b64(&signature))
    }
}

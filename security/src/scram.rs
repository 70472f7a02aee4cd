//! SCRAM-SHA-256 verifiers in PostgreSQL's stored form.
//!
//! A verifier is `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` with
//! base64 fields, exactly what PostgreSQL keeps in `pg_authid.rolpassword`. It lets the
//! server check a SCRAM proof without ever holding the password (RFC 5802, RFC 7677).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{Result, SecurityError};

/// Iterations used for new verifiers; PostgreSQL's default.
pub const DEFAULT_ITERATIONS: u32 = 4096;

const PREFIX: &str = "SCRAM-SHA-256$";

/// A parsed SCRAM-SHA-256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    /// The salt the client must hash its password with.
    pub salt: Vec<u8>,
    /// PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material never reaches logs.
        f.debug_struct("ScramVerifier")
            .field("iterations", &self.iterations)
            .field("stored_key", &"<redacted>")
            .field("server_key", &"<redacted>")
            .finish()
    }
}

impl ScramVerifier {
    /// Derives a verifier from a password, a salt and an iteration count.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Self {
        // RFC 5802 asks for SASLprep; like PostgreSQL, fall back to the raw password
        // when it cannot be normalised.
        let normalized = stringprep::saslprep(password)
            .map(|p| p.into_owned())
            .unwrap_or_else(|_| password.to_owned());
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(normalized.as_bytes(), salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = Sha256::digest(client_key).to_vec();
        let server_key = hmac(&salted, b"Server Key");
        Self {
            salt: salt.to_vec(),
            iterations,
            stored_key,
            server_key,
        }
    }

    /// Derives a verifier with a fresh random 16-byte salt.
    pub fn generate(password: &str) -> Self {
        let salt: [u8; 16] = rand::random();
        Self::derive(password, &salt, DEFAULT_ITERATIONS)
    }

    /// Parses PostgreSQL's stored form; `user` only names the owner in errors.
    pub fn parse(user: &str, text: &str) -> Result<Self> {
        let invalid = |reason: &str| SecurityError::InvalidVerifier {
            user: user.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| invalid("it must start with SCRAM-SHA-256$ (run `gateway passwd`)"))?;
        let (params, keys) = rest
            .split_once('$')
            .ok_or_else(|| invalid("missing '$' between parameters and keys"))?;
        let (iterations, salt) = params
            .split_once(':')
            .ok_or_else(|| invalid("missing ':' between iterations and salt"))?;
        let (stored_key, server_key) = keys
            .split_once(':')
            .ok_or_else(|| invalid("missing ':' between stored key and server key"))?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| invalid("iterations is not a number"))?;
        if iterations == 0 {
            return Err(invalid("iterations must be positive"));
        }
        let decode = |field: &str, what: &str| {
            STANDARD
                .decode(field)
                .map_err(|_| invalid(&format!("{what} is not valid base64")))
        };
        let salt = decode(salt, "salt")?;
        let stored_key = decode(stored_key, "stored key")?;
        let server_key = decode(server_key, "server key")?;
        if stored_key.len() != 32 || server_key.len() != 32 {
            return Err(invalid("keys must be 32 bytes (SHA-256)"));
        }
        Ok(Self {
            salt,
            iterations,
            stored_key,
            server_key,
        })
    }

    /// Checks a password against this verifier in constant time.
    pub fn matches_password(&self, password: &str) -> bool {
        use subtle::ConstantTimeEq;
        let other = Self::derive(password, &self.salt, self.iterations);
        bool::from(other.stored_key.ct_eq(&self.stored_key))
            && bool::from(other.server_key.ct_eq(&self.server_key))
    }
}

impl std::fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(&self.stored_key),
            STANDARD.encode(&self.server_key)
        )
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let v = ScramVerifier::derive("pencil", b"0123456789abcdef", 4096);
        let text = v.to_string();
        let parsed = ScramVerifier::parse("u", &text).expect("parses");
        assert_eq!(parsed, v);
        assert!(parsed.matches_password("pencil"));
        assert!(!parsed.matches_password("pencil2"));
    }

    #[test]
    fn satisfies_rfc7677_test_vector() {
        // RFC 7677 section 3: user "user", password "pencil".
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("b64");
        let v = ScramVerifier::derive("pencil", &salt, 4096);
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
            r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
            c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let server_signature = hmac(&v.server_key, auth_message.as_bytes());
        assert_eq!(
            STANDARD.encode(server_signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let proof = STANDARD
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .expect("b64");
        let client_signature = hmac(&v.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(Sha256::digest(client_key).to_vec(), v.stored_key);
    }

    #[test]
    fn rejects_malformed_verifiers_with_reason() {
        for bad in [
            "md5abc",
            "SCRAM-SHA-256$4096",
            "SCRAM-SHA-256$x:c2FsdA==$a:b",
            "SCRAM-SHA-256$4096:!!$a:b",
            "SCRAM-SHA-256$4096:c2FsdA==$YQ==:YQ==",
        ] {
            let err = ScramVerifier::parse("bob", bad).expect_err(bad).to_string();
            assert!(err.contains("bob"), "{err}");
        }
    }

    #[test]
    fn debug_redacts_keys() {
        let v = ScramVerifier::generate("secret");
        let shown = format!("{v:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&STANDARD.encode(&v.stored_key)));
    }
}

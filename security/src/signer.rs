//! The keys that sign Flight SQL bearer tokens, tickets and prepared-statement handles,
//! and the coordinator's requests to distributed workers: shared by every replica and
//! worker through `[flight] secret_file`, and rotated without a restart.
//!
//! The file holds one secret per line (at least 32 bytes each; `#` comments): the first
//! signs, every one verifies. Rotating: add the new secret as a second line on every
//! replica (they accept it), then move it first (they sign with it), and remove the
//! old one once the longest token and ticket lifetime has passed. The file is read
//! again when it changes (checked at most once per second, on use); a file that stops
//! parsing keeps the last good keys and says why in the log.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Bytes of an HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;

/// How often the secret file's modification time is looked at.
const RECHECK: Duration = Duration::from_secs(1);

/// Where the keys come from.
#[derive(Debug)]
struct KeyFile {
    path: PathBuf,
    /// The file's modification time when last read, and when it was last looked at.
    seen: Mutex<(Option<SystemTime>, Instant)>,
}

/// Signs with the first key and verifies with any; each use has its own domain, so a
/// ticket can never pass as a token.
#[derive(Clone)]
pub struct Signer {
    keys: Arc<RwLock<Vec<[u8; 32]>>>,
    file: Option<Arc<KeyFile>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

/// The keys of a secret file's text: one per secret line, the signing one first.
fn parse_keys(text: &[u8]) -> Result<Vec<[u8; 32]>, String> {
    let mut keys = Vec::new();
    for (index, line) in text.split(|b| *b == b'\n').enumerate() {
        let secret = line.trim_ascii();
        if secret.is_empty() || secret.starts_with(b"#") {
            continue;
        }
        if secret.len() < 32 {
            return Err(format!(
                "line {}: a Flight SQL secret must be at least 32 bytes, found {}",
                index + 1,
                secret.len()
            ));
        }
        keys.push(Sha256::digest(secret).into());
    }
    if keys.is_empty() {
        return Err("the Flight SQL secret file holds no secret".into());
    }
    Ok(keys)
}

impl Signer {
    /// A signer with a fresh random key (tokens end with the process).
    pub fn random() -> Self {
        Self {
            keys: Arc::new(RwLock::new(vec![rand::random()])),
            file: None,
        }
    }

    /// A signer whose keys are derived from secrets (see the module's documentation).
    pub fn from_secret(secret: &[u8]) -> Result<Self, String> {
        Ok(Self {
            keys: Arc::new(RwLock::new(parse_keys(secret)?)),
            file: None,
        })
    }

    /// A signer over the secrets of `path`, read now and again when it changes.
    pub fn from_file(path: impl Into<PathBuf>) -> Result<Self, String> {
        let path = path.into();
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let text = std::fs::read(&path).map_err(|e| e.to_string())?;
        Ok(Self {
            keys: Arc::new(RwLock::new(parse_keys(&text)?)),
            file: Some(Arc::new(KeyFile {
                path,
                seen: Mutex::new((modified, Instant::now())),
            })),
        })
    }

    /// Reads the secret file again if it changed since it was last read.
    fn refresh(&self) {
        let Some(file) = &self.file else { return };
        let mut seen = file.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.1.elapsed() < RECHECK {
            return;
        }
        seen.1 = Instant::now();
        let modified = std::fs::metadata(&file.path)
            .and_then(|m| m.modified())
            .ok();
        if modified == seen.0 {
            return;
        }
        seen.0 = modified;
        match std::fs::read(&file.path)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_keys(&text))
        {
            Ok(keys) => {
                tracing::info!(
                    path = %file.path.display(),
                    keys = keys.len(),
                    "Flight SQL signing keys read again"
                );
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
            }
            Err(e) => tracing::warn!(
                path = %file.path.display(),
                error = %e,
                "the Flight SQL secret file cannot be used; the last good keys stay"
            ),
        }
    }

    fn mac(key: &[u8; 32], domain: &[u8], payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(domain);
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// The tag of `payload` in `domain`, by the signing key.
    pub fn sign(&self, domain: &[u8], payload: &[u8]) -> [u8; TAG_LEN] {
        self.refresh();
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        Self::mac(&keys[0], domain, payload)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `tag` is the tag of `payload` in `domain` by any key (each compared in
    /// constant time).
    pub fn verify(&self, domain: &[u8], payload: &[u8], tag: &[u8]) -> bool {
        self.refresh();
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .any(|key| Self::mac(key, domain, payload).verify_slice(tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "an old secret of at least thirty-two bytes";
    const NEW: &str = "a new secret, also of at least thirty-two bytes";

    #[test]
    fn the_first_key_signs_and_any_key_verifies_through_a_rotation() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("flight.secret");
        std::fs::write(&path, format!("{OLD}\n")).expect("write");
        let signer = Signer::from_file(&path).expect("signer");
        let old_tag = signer.sign(b"token", b"ann");
        assert!(signer.verify(b"token", b"ann", &old_tag));
        assert!(
            !signer.verify(b"ticket", b"ann", &old_tag),
            "domains differ"
        );

        // The new key first, the old one kept: new tags by the new key, old ones valid.
        std::fs::write(&path, format!("# rotated\n{NEW}\n{OLD}\n")).expect("write");
        let bumped = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(bumped))
            .expect("mtime");
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        let new_tag = signer.sign(b"token", b"ann");
        assert_ne!(new_tag, old_tag);
        assert!(signer.verify(b"token", b"ann", &old_tag));
        let other = Signer::from_secret(NEW.as_bytes()).expect("new only");
        assert!(
            other.verify(b"token", b"ann", &new_tag),
            "signed by the new key"
        );

        // The old key removed: its tags are refused.
        std::fs::write(&path, format!("{NEW}\n")).expect("write");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(bumped + Duration::from_secs(5)))
            .expect("mtime");
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert!(!signer.verify(b"token", b"ann", &old_tag));
        assert!(signer.verify(b"token", b"ann", &new_tag));

        // A broken file keeps the last good keys.
        std::fs::write(&path, "short\n").expect("write");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(bumped + Duration::from_secs(10)))
            .expect("mtime");
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert!(signer.verify(b"token", b"ann", &new_tag));
    }

    #[test]
    fn short_or_empty_secret_files_are_refused() {
        assert!(parse_keys(b"short").is_err());
        assert!(parse_keys(b"# only a comment\n\n").is_err());
        let keys = parse_keys(format!("{NEW}\r\n{OLD}").as_bytes()).expect("two");
        assert_eq!(keys.len(), 2);
    }
}

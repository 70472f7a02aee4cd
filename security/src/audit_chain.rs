//! Tamper evidence for the audit trail: every record carries `chain`, the hex SHA-256
//! of the previous record's chain followed by the record's own bytes, so changing,
//! inserting or removing a record breaks every link after it. The chain runs across
//! rotated files and restarts; the first record ever links to 32 zero bytes.
//!
//! The link is computed over the record exactly as written, `{…}` without its chain:
//! the line is that text with `,"chain":"<64 hex>"` put before its closing brace, so a
//! verifier rebuilds the bytes from the line without re-serialising JSON.
//!
//! What it cannot show: records cut from the end of the newest file (keep a copy of
//! the chain's head elsewhere, e.g. from `gateway audit verify`'s output, to detect
//! that), and links into files that retention removed (verification then starts at the
//! oldest file kept and says so).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use sha2::{Digest, Sha256};

/// The link before the first record.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

const FIELD: &str = ",\"chain\":\"";
/// `,"chain":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = FIELD.len() + 64 + 2;

/// `record` (one JSON object, no newline) with its chain field, and the new head.
pub(crate) fn chained(prev: &[u8; 32], record: &[u8]) -> (Vec<u8>, [u8; 32]) {
    let head: [u8; 32] = Sha256::new()
        .chain_update(prev)
        .chain_update(record)
        .finalize()
        .into();
    let body = record.strip_suffix(b"}").unwrap_or(record);
    let mut line = Vec::with_capacity(record.len() + SUFFIX_LEN + 1);
    line.extend_from_slice(body);
    if body.len() > 1 {
        line.extend_from_slice(FIELD.as_bytes());
    } else {
        // An empty object: no comma before the field.
        line.extend_from_slice(&FIELD.as_bytes()[1..]);
    }
    line.extend_from_slice(hex(&head).as_bytes());
    line.extend_from_slice(b"\"}\n");
    (line, head)
}

/// A line's record bytes and its chain, or `None` for a line without one.
fn split(line: &str) -> Option<(String, [u8; 32])> {
    if line.len() < SUFFIX_LEN || !line.ends_with("\"}") {
        return None;
    }
    let at = line.len() - SUFFIX_LEN;
    let (body, tail) = line.split_at(at);
    let digits = tail.strip_prefix(FIELD)?.strip_suffix("\"}")?;
    let chain = unhex(digits)?;
    Some((format!("{body}}}"), chain))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The chain head of the trail at `path`: the last chained record of its newest file
/// that has one, or [`GENESIS`].
pub(crate) fn head(path: &Path) -> std::io::Result<[u8; 32]> {
    for file in crate::audit_files::trail_files(path)?.iter().rev() {
        let mut open = std::fs::File::open(file)?;
        let metadata = open.metadata()?;
        if !metadata.is_file() {
            // A device (tests write to /dev/full) has no records to continue from.
            continue;
        }
        // Records are a few KiB at most (the SQL text is capped).
        let start = metadata.len().saturating_sub(1 << 20);
        open.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        open.take(1 << 20).read_to_end(&mut tail)?;
        let tail = String::from_utf8_lossy(&tail);
        if let Some(line) = tail.lines().rev().find(|l| !l.trim().is_empty()) {
            return Ok(split(line).map_or(GENESIS, |(_, chain)| chain));
        }
    }
    Ok(GENESIS)
}

/// What [`verify`] found in an intact trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Files read, oldest first.
    pub files: usize,
    /// Records whose link was checked.
    pub records: u64,
    /// Records written before chaining, at the start of the trail (not checked).
    pub unchained: u64,
    /// Whether the oldest record kept links to the genesis (nothing older was removed).
    pub from_genesis: bool,
    /// The chain's head (hex): compare it with a copy kept elsewhere to detect records
    /// cut from the end.
    pub head: String,
}

/// Checks every link of the trail at `path`. `Err` names the file and line where the
/// chain breaks and why.
pub fn verify(path: &Path) -> Result<Verified, String> {
    let files = crate::audit_files::trail_files(path)
        .map_err(|e| format!("listing {}: {e}", path.display()))?;
    if files.is_empty() {
        return Err(format!("no audit trail at {}", path.display()));
    }
    let mut prev: Option<[u8; 32]> = None;
    let (mut records, mut unchained, mut from_genesis) = (0u64, 0u64, false);
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        for (index, line) in text.lines().enumerate() {
            let at = || format!("{}:{}", file.display(), index + 1);
            if line.trim().is_empty() {
                continue;
            }
            let Some((record, chain)) = split(line) else {
                if prev.is_none() {
                    unchained += 1;
                    continue;
                }
                return Err(format!("{}: a record without its chain field", at()));
            };
            let expected = match prev {
                Some(prev) => prev,
                None => {
                    // The first chained record: its link is checked against the
                    // genesis; when it fails, older records were removed (retention)
                    // and the walk starts from this one.
                    let linked = chained(&GENESIS, record.as_bytes()).1 == chain;
                    from_genesis = linked && unchained == 0;
                    if !linked {
                        prev = Some(chain);
                        records += 1;
                        continue;
                    }
                    GENESIS
                }
            };
            if chained(&expected, record.as_bytes()).1 != chain {
                return Err(format!(
                    "{}: the chain breaks here: the record was changed, or a record \
                     before it was removed or inserted",
                    at()
                ));
            }
            prev = Some(chain);
            records += 1;
        }
    }
    Ok(Verified {
        files: files.len(),
        records,
        unchained,
        from_genesis,
        head: hex(&prev.unwrap_or(GENESIS)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_trail(path: &Path, records: &[&str]) {
        let mut prev = GENESIS;
        let mut text = Vec::new();
        for record in records {
            let (line, head) = chained(&prev, record.as_bytes());
            text.extend_from_slice(&line);
            prev = head;
        }
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn lines_split_back_into_their_records() {
        let (line, head) = chained(&GENESIS, br#"{"user":"ann","sql":"SELECT '}'"}"#);
        let text = String::from_utf8(line).expect("utf8");
        let (record, chain) = split(text.trim_end()).expect("split");
        assert_eq!(record, r#"{"user":"ann","sql":"SELECT '}'"}"#);
        assert_eq!(chain, head);
        let value: serde_json::Value = serde_json::from_str(&text).expect("still JSON");
        assert_eq!(value["user"], "ann");
    }

    #[test]
    fn a_changed_removed_or_inserted_record_breaks_the_chain() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.jsonl");
        write_trail(&path, &[r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
        let intact = verify(&path).expect("intact");
        assert_eq!((intact.records, intact.from_genesis), (3, true));
        assert_eq!(head(&path).ok().map(|h| hex(&h)), Some(intact.head.clone()));

        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replace(r#"{"n":2"#, r#"{"n":9"#)).expect("tamper");
        let Err(e) = verify(&path) else {
            panic!("a changed record verified")
        };
        assert!(e.contains("audit.jsonl:2"), "{e}");

        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).expect("remove");
        let Err(e) = verify(&path) else {
            panic!("a removed record verified")
        };
        assert!(e.contains("audit.jsonl:2"), "{e}");
    }

    #[test]
    fn a_trail_whose_oldest_files_expired_verifies_from_the_oldest_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.jsonl");
        write_trail(&path, &[r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
        let text = std::fs::read_to_string(&path).expect("read");
        let rest: Vec<&str> = text.lines().skip(1).collect();
        std::fs::write(&path, rest.join("\n") + "\n").expect("expire");
        let verified = verify(&path).expect("verifies");
        assert_eq!((verified.records, verified.from_genesis), (2, false));
    }
}

//! The audit trail: one JSON line per statement, allowed or denied, appended, flushed and
//! synced before the statement's result completes, hash-chained (`audit_chain`), rotated
//! by size and kept for a number of days (`audit_files`). One thread writes the file
//! (`audit_writer`); sessions wait for its acknowledgement, not for a lock.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use crate::audit_chain::{Verified, verify};
pub use crate::audit_writer::AuditAck;
use crate::audit_writer::{Keeping, Writer};

/// Audit settings.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The JSON-lines file; `None` disables the trail.
    pub path: Option<PathBuf>,
    /// Rotate when the file grows past this many bytes.
    pub max_bytes: u64,
    /// Record the SHA-256 of the SQL text instead of the text.
    pub hash_sql: bool,
    /// SQL text and error messages kept per record, in bytes; a longer text is cut
    /// (and the full SQL's SHA-256 recorded), so one client cannot flood the trail.
    pub max_sql_bytes: usize,
    /// Rotated files are removed this many days after their last write (0: never).
    pub retention_days: u64,
    /// Sync each write to the disk before the statements it records complete.
    pub fsync: bool,
}

/// One statement's audit record.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
#[serde(default)]
pub struct AuditEvent {
    /// RFC 3339 time the statement finished.
    pub time: String,
    /// Query id, unique across restarts (`20261127_011500_00042`: the gateway's start
    /// time and a counter).
    pub query_id: String,
    /// Session id (unique in this process).
    pub session_id: u64,
    /// Login name.
    pub user: String,
    /// Roles at the time.
    pub roles: Vec<String>,
    /// Client address.
    pub client: String,
    /// `postgres` or `flight-sql`.
    pub protocol: String,
    /// The SQL text (absent when hashed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// SHA-256 of the SQL text (when configured, or when the text was cut).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_sha256: Option<String>,
    /// The SQL text was longer than `max_sql_bytes` and is cut (written only then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sql_truncated: bool,
    /// Tables read.
    pub tables: Vec<String>,
    /// Columns read.
    pub columns: Vec<String>,
    /// Row filters applied, by policy id.
    pub filters: Vec<String>,
    /// Masks applied, by policy id.
    pub masks: Vec<String>,
    /// `allow`, `deny` or `error`.
    pub decision: String,
    /// How the statement ended: `ok`, `error` or `abandoned` (its client went away
    /// before reading the whole result).
    pub outcome: String,
    /// Rows returned.
    pub rows: u64,
    /// Error message, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Whether the result came from the results cache (written only when it did).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cache_hit: bool,
    /// What the query read and computed, and its cost (queries only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<AuditCost>,
}

/// The metered figures of a query, as the audit trail records them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditCost {
    /// Bytes read from data files.
    pub bytes_scanned: u64,
    /// Bytes read from table metadata.
    pub metadata_bytes: u64,
    /// Data files opened.
    pub files_scanned: u64,
    /// Data files of the scanned snapshots not opened.
    #[serde(default)]
    pub files_pruned: u64,
    /// Parquet row groups read.
    #[serde(default)]
    pub row_groups_scanned: u64,
    /// Parquet row groups of the opened files not read.
    #[serde(default)]
    pub row_groups_pruned: u64,
    /// Reads issued to storage.
    pub read_requests: u64,
    /// Rows the scans produced.
    pub rows_scanned: u64,
    /// Arrow bytes returned.
    pub bytes_returned: u64,
    /// Operator CPU time.
    pub cpu_ms: f64,
    /// Time waiting for an execution slot.
    pub queue_ms: f64,
    /// Peak reserved memory.
    pub peak_memory_bytes: u64,
    /// Bytes written to spill files.
    #[serde(default)]
    pub spilled_bytes: u64,
    /// Spill files written.
    #[serde(default)]
    pub spill_files: u64,
    /// Cost in the price list's unit.
    pub cost: f64,
}

/// The append-only audit file, written by its own thread (`audit_writer`).
pub struct AuditLog {
    config: AuditConfig,
    writer: Option<Writer>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.config.path)
            .finish()
    }
}

impl AuditLog {
    /// Opens (creating) the audit file and starts its writer.
    pub fn open(config: AuditConfig) -> std::io::Result<Self> {
        let writer = match &config.path {
            Some(path) => Some(Writer::start(
                path.clone(),
                Keeping {
                    max_bytes: config.max_bytes,
                    retention_days: config.retention_days,
                    fsync: config.fsync,
                },
            )?),
            None => None,
        };
        Ok(Self { config, writer })
    }

    /// A trail that records nothing (tests and tools).
    pub fn disabled() -> Self {
        Self {
            config: AuditConfig {
                path: None,
                max_bytes: u64::MAX,
                hash_sql: false,
                max_sql_bytes: usize::MAX,
                retention_days: 0,
                fsync: false,
            },
            writer: None,
        }
    }

    /// `Err` naming the trail, since when and why, while it cannot be written: no
    /// statement may run then (fail closed), and the gateway is not ready.
    pub fn health(&self) -> Result<(), String> {
        let Some(failing) = self.writer.as_ref().and_then(|w| w.health.failing()) else {
            return Ok(());
        };
        Err(format!(
            "the audit trail {} cannot be written (since {}: {})",
            self.path()
                .map_or_else(String::new, |p| p.display().to_string()),
            failing.since,
            failing.error
        ))
    }

    /// Where records go.
    pub fn path(&self) -> Option<&Path> {
        self.config.path.as_deref()
    }

    /// Fills in the SQL (or its hash) as configured; a text over `max_sql_bytes` is
    /// cut, with the full text's hash beside it.
    pub fn set_sql(&self, event: &mut AuditEvent, sql: &str) {
        let digest = || {
            let digest = Sha256::digest(sql.as_bytes());
            Some(digest.iter().map(|b| format!("{b:02x}")).collect())
        };
        if self.config.hash_sql {
            event.sql_sha256 = digest();
            event.sql = None;
        } else if sql.len() > self.config.max_sql_bytes {
            event.sql = Some(cut(sql, self.config.max_sql_bytes));
            event.sql_sha256 = digest();
            event.sql_truncated = true;
        } else {
            event.sql = Some(sql.to_string());
            event.sql_sha256 = None;
            event.sql_truncated = false;
        }
    }

    /// Caps the record's error message as its SQL is capped (a message may quote the
    /// statement).
    fn capped(&self, event: &AuditEvent) -> Option<AuditEvent> {
        let error = event.error.as_ref()?;
        if error.len() <= self.config.max_sql_bytes {
            return None;
        }
        let mut capped = event.clone();
        capped.error = Some(cut(error, self.config.max_sql_bytes));
        Some(capped)
    }

    /// Hands one record to the writer; the acknowledgement resolves once it is
    /// written and flushed to the operating system (or could not be).
    pub fn submit(&self, event: &AuditEvent) -> AuditAck {
        let Some(writer) = &self.writer else {
            return AuditAck::done();
        };
        let capped = self.capped(event);
        match serde_json::to_vec(capped.as_ref().unwrap_or(event)) {
            Ok(line) => writer.submit(line),
            Err(error) => AuditAck::failed(format!("encoding the audit record: {error}")),
        }
    }

    /// Appends one record and waits until it is flushed (for callers outside async
    /// code; statements wait on [`AuditLog::submit`]'s acknowledgement instead).
    pub fn record(&self, event: &AuditEvent) -> std::io::Result<()> {
        futures::executor::block_on(self.submit(event))
    }
}

/// The records of the trail at `path` (its rotated files, then the current one) whose
/// file was written to at or after `since`, in the order they were written. A line
/// that does not parse (a crash mid-write) is skipped.
pub fn read_since(path: &Path, since: std::time::SystemTime) -> std::io::Result<Vec<AuditEvent>> {
    let files = crate::audit_files::trail_files(path)?;
    let mut events = Vec::new();
    for file in files {
        let modified = match std::fs::metadata(&file).and_then(|m| m.modified()) {
            Ok(modified) => modified,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if modified < since {
            continue;
        }
        let text = std::fs::read_to_string(&file)?;
        events.extend(
            text.lines()
                .filter_map(|line| serde_json::from_str::<AuditEvent>(line).ok()),
        );
    }
    Ok(events)
}

/// `text` cut to at most `max` bytes at a character boundary, marked as cut.
fn cut(text: &str, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_hashes_and_rotates() {
        let dir = std::env::temp_dir().join(format!("audit-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(AuditConfig {
            path: Some(path.clone()),
            max_bytes: 400,
            hash_sql: true,
            max_sql_bytes: 1024,
            retention_days: 30,
            fsync: true,
        })
        .expect("open");
        let mut event = AuditEvent {
            user: "ann".into(),
            decision: "allow".into(),
            ..Default::default()
        };
        log.set_sql(&mut event, "SELECT 1");
        assert!(event.sql.is_none());
        assert_eq!(event.sql_sha256.as_deref().map(str::len), Some(64));
        for _ in 0..6 {
            log.record(&event).expect("record");
        }
        let current = std::fs::read_to_string(&path).expect("current");
        let oldest = crate::audit_files::rotated_files(&path).expect("list");
        let rotated = std::fs::read_to_string(&oldest[0]).expect("rotated");
        let lines = current.lines().count() + rotated.lines().count();
        assert!(lines >= 2, "{lines}");
        let parsed: serde_json::Value =
            serde_json::from_str(rotated.lines().next().expect("a line")).expect("json");
        assert_eq!(parsed["user"], "ann");
        let verified = verify(&path).expect("the chain holds across rotations");
        assert_eq!(verified.records, 6);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn long_sql_and_errors_are_cut_with_the_full_text_hashed() {
        let dir = tempfile::tempdir().expect("dir");
        let log = AuditLog::open(AuditConfig {
            path: Some(dir.path().join("audit.jsonl")),
            max_bytes: 1 << 20,
            hash_sql: false,
            max_sql_bytes: 100,
            retention_days: 0,
            fsync: false,
        })
        .expect("open");
        let long = format!("SELECT '{}'", "é".repeat(1000));
        let mut event = AuditEvent::default();
        log.set_sql(&mut event, &long);
        let sql = event.sql.clone().unwrap_or_default();
        assert!(
            sql.len() <= 100 + '…'.len_utf8() && sql.ends_with('…'),
            "{sql}"
        );
        assert!(event.sql_truncated && event.sql_sha256.is_some());
        event.error = Some(long.clone());
        let capped = log.capped(&event).expect("capped");
        assert!(capped.error.unwrap_or_default().len() < 110);
        log.set_sql(&mut event, "SELECT 1");
        assert_eq!(event.sql.as_deref(), Some("SELECT 1"));
    }
}

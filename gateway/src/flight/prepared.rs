//! Prepared statements of Flight SQL clients: described once, executed many times, with
//! parameters bound by DoPut.
//!
//! A handle is 16 random bytes naming an entry that belongs to one user; another user's
//! handle is refused as unknown. Each user keeps at most `max_per_user` statements; the
//! least recently used goes first, so a client that never closes cannot exhaust memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use arrow::array::RecordBatch;
use lakegate_planner::Prepared;
use tonic::Status;

/// Bytes of a prepared statement handle.
const HANDLE_LEN: usize = 16;

/// One prepared statement.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Who prepared it.
    pub(crate) user: String,
    /// The described statement.
    pub(crate) prepared: Prepared,
    /// Parameter rows bound by the last DoPut (each row is one execution).
    pub(crate) params: Option<RecordBatch>,
    last_used: Instant,
}

/// The registry of prepared statements.
#[derive(Debug)]
pub(crate) struct PreparedStatements {
    entries: Mutex<HashMap<[u8; HANDLE_LEN], Entry>>,
    max_per_user: usize,
}

impl PreparedStatements {
    pub(crate) fn new(max_per_user: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_per_user: max_per_user.max(1),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; HANDLE_LEN], Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a statement and returns its handle.
    pub(crate) fn insert(&self, user: &str, prepared: Prepared) -> Vec<u8> {
        let handle: [u8; HANDLE_LEN] = rand::random();
        let mut entries = self.entries();
        let owned = entries.values().filter(|e| e.user == user).count();
        if owned >= self.max_per_user {
            let oldest = entries
                .iter()
                .filter(|(_, e)| e.user == user)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(h, _)| *h);
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
                tracing::debug!(user, "dropped the least recently used prepared statement");
            }
        }
        entries.insert(
            handle,
            Entry {
                user: user.to_string(),
                prepared,
                params: None,
                last_used: Instant::now(),
            },
        );
        handle.to_vec()
    }

    /// The entry behind a handle, if `user` owns it.
    pub(crate) fn get(&self, handle: &[u8], user: &str) -> Result<Entry, Status> {
        let key = key(handle)?;
        let mut entries = self.entries();
        match entries.get_mut(&key) {
            Some(entry) if entry.user == user => {
                entry.last_used = Instant::now();
                Ok(entry.clone())
            }
            _ => Err(unknown()),
        }
    }

    /// Binds parameter rows to a statement.
    pub(crate) fn bind(
        &self,
        handle: &[u8],
        user: &str,
        params: RecordBatch,
    ) -> Result<(), Status> {
        let key = key(handle)?;
        let mut entries = self.entries();
        match entries.get_mut(&key) {
            Some(entry) if entry.user == user => {
                entry.params = Some(params);
                entry.last_used = Instant::now();
                Ok(())
            }
            _ => Err(unknown()),
        }
    }

    /// Drops a statement.
    pub(crate) fn close(&self, handle: &[u8], user: &str) -> Result<(), Status> {
        let key = key(handle)?;
        let mut entries = self.entries();
        match entries.get(&key) {
            Some(entry) if entry.user == user => {
                entries.remove(&key);
                Ok(())
            }
            _ => Err(unknown()),
        }
    }
}

fn key(handle: &[u8]) -> Result<[u8; HANDLE_LEN], Status> {
    handle.try_into().map_err(|_| unknown())
}

fn unknown() -> Status {
    Status::not_found("unknown prepared statement handle (closed, evicted or never created)")
}

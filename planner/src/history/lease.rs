//! A gateway's lease on the history it writes: an exclusively locked file
//! `<history dir>/instances/<instance>.lock`, removed once its last batch is committed
//! (recovery.rs replays the records of leases nobody holds).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::{ErrorKind, QueryError, Result};

/// A held lease: the locked file, removed when the lease is released.
#[derive(Debug)]
pub(crate) struct Lease {
    path: PathBuf,
    _file: File,
}

fn failed(e: impl std::fmt::Display) -> QueryError {
    QueryError::new(
        ErrorKind::Internal,
        format!("recovering the query history from the audit trail: {e}"),
    )
}

/// Where the leases of the history under `dir` are.
pub(crate) fn leases_dir(dir: &Path) -> PathBuf {
    dir.join("instances")
}

impl Lease {
    /// Takes the lease of gateway `instance` (its query ids start with `instance_`).
    pub(crate) fn claim(dir: &Path, instance: &str) -> Result<Self> {
        let dir = leases_dir(dir);
        std::fs::create_dir_all(&dir).map_err(failed)?;
        let path = dir.join(format!("{instance}.lock"));
        let file = File::create(&path).map_err(failed)?;
        file.try_lock().map_err(|e| {
            failed(format!(
                "the lease {} is held by another process: {e}",
                path.display()
            ))
        })?;
        Ok(Lease { path, _file: file })
    }

    /// Gives the lease up: its file is removed.
    pub(crate) fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

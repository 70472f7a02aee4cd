//! The audit trail's files: the current one (`audit.jsonl`), and the rotated ones named
//! by when they were rotated (`audit.jsonl.20261204T223000.123456Z`), kept for the
//! configured number of days whatever their count, so no volume of records pushes
//! older ones out. Files rotated by earlier versions (`audit.jsonl.1` … `.5`, the
//! highest oldest) are read and expire the same way.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The name a file rotated now gets.
pub(crate) fn rotated_name(path: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    PathBuf::from(format!("{}.{stamp}", path.display()))
}

/// The rotated files of the trail at `path`, oldest first.
pub(crate) fn rotated_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut numbered = Vec::new();
    let mut stamped = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().to_string();
        let Some(suffix) = file.strip_prefix(&prefix) else {
            continue;
        };
        if let Ok(n) = suffix.parse::<u32>() {
            numbered.push((n, entry.path()));
        } else if suffix.len() > 15 && suffix.ends_with('Z') && suffix.as_bytes()[8] == b'T' {
            stamped.push((suffix.to_string(), entry.path()));
        }
    }
    numbered.sort_by_key(|n| std::cmp::Reverse(n.0));
    stamped.sort();
    Ok(numbered
        .into_iter()
        .map(|(_, p)| p)
        .chain(stamped.into_iter().map(|(_, p)| p))
        .collect())
}

/// Every file of the trail, oldest first: the rotated ones, then the current one.
pub(crate) fn trail_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = rotated_files(path)?;
    if path.exists() {
        files.push(path.to_path_buf());
    }
    Ok(files)
}

/// Removes rotated files last written more than `days` ago (0: keep every file).
pub(crate) fn expire(path: &Path, days: u64) -> std::io::Result<usize> {
    if days == 0 {
        return Ok(0);
    }
    let horizon = SystemTime::now()
        .checked_sub(Duration::from_secs(days.saturating_mul(86_400)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut removed = 0;
    for file in rotated_files(path)? {
        let modified = std::fs::metadata(&file)?.modified()?;
        if modified < horizon {
            std::fs::remove_file(&file)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_files_are_listed_oldest_first_and_expire_by_age() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.jsonl");
        for name in [
            "audit.jsonl.1",
            "audit.jsonl.2",
            "audit.jsonl.20261204T223000.000001Z",
            "audit.jsonl.20261203T010000.000000Z",
            "audit.jsonl",
            "other.jsonl.1",
        ] {
            std::fs::write(dir.path().join(name), "x\n").expect("write");
        }
        let names: Vec<String> = trail_files(&path)
            .expect("list")
            .iter()
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "audit.jsonl.2",
                "audit.jsonl.1",
                "audit.jsonl.20261203T010000.000000Z",
                "audit.jsonl.20261204T223000.000001Z",
                "audit.jsonl"
            ]
        );
        let old = SystemTime::now() - Duration::from_secs(3 * 86_400);
        let file = std::fs::File::options()
            .write(true)
            .open(dir.path().join("audit.jsonl.1"))
            .expect("open");
        file.set_modified(old).expect("age");
        assert_eq!(expire(&path, 2).expect("expire"), 1);
        assert_eq!(expire(&path, 0).expect("keep"), 0);
        assert_eq!(rotated_files(&path).expect("list").len(), 3);
    }
}

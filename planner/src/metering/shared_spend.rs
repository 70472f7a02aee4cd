//! Budget spending shared by every replica of a deployment: a table of spend per
//! subject and period in a SQLite database every replica reaches (by default
//! `<data_dir>/system/coordination.db`, beside the catalog database they already share),
//! so that a budget spent through one gateway refuses at another.
//!
//! Each finished query adds its cost with one upsert (written off the query's path, a
//! few milliseconds after it ends); a query with a hard budget reads its subjects'
//! totals before it runs. WAL mode and a busy timeout let replicas write at once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// The spend table.
const TABLE: &str = "lakegate_budget_spend";

/// The shared store.
#[derive(Debug, Clone)]
pub struct SharedSpend {
    pool: SqlitePool,
}

impl SharedSpend {
    /// Opens (creating) the store at `url` (`sqlite:PATH`).
    pub async fn open(url: &str) -> Result<Self, String> {
        let Some(path) = url.strip_prefix("sqlite:") else {
            return Err(format!(
                "[finops] shared_store must be a sqlite:PATH URL (PostgreSQL is not \
                 supported yet), not {url:?}"
            ));
        };
        if let Some(parent) = std::path::Path::new(path.trim_start_matches("//")).parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| format!("[finops] shared_store {url}: {e}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| format!("[finops] shared_store {url}: {e}"))?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (subject TEXT NOT NULL, period TEXT NOT NULL, \
             spent REAL NOT NULL, PRIMARY KEY (subject, period))"
        ))
        .execute(&pool)
        .await
        .map_err(|e| format!("[finops] shared_store {url}: {e}"))?;
        Ok(Self { pool })
    }

    /// Adds `cost` to each (subject, period).
    pub(crate) async fn add(&self, entries: &[(String, String)], cost: f64) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        for (subject, period) in entries {
            sqlx::query(&format!(
                "INSERT INTO {TABLE} (subject, period, spent) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (subject, period) DO UPDATE SET spent = spent + excluded.spent"
            ))
            .bind(subject)
            .bind(period)
            .bind(cost)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// What each (subject, period) has spent, across replicas.
    pub(crate) async fn spent(&self, keys: &[(String, String)]) -> sqlx::Result<Vec<f64>> {
        let mut totals = Vec::with_capacity(keys.len());
        for (subject, period) in keys {
            let spent: Option<f64> = sqlx::query_scalar(&format!(
                "SELECT spent FROM {TABLE} WHERE subject = ?1 AND period = ?2"
            ))
            .bind(subject)
            .bind(period)
            .fetch_optional(&self.pool)
            .await?;
            totals.push(spent.unwrap_or(0.0));
        }
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_handles_on_one_file_see_each_others_spend() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite:{}", dir.path().join("coordination.db").display());
        let a = SharedSpend::open(&url).await.expect("a");
        let b = SharedSpend::open(&url).await.expect("b");
        let key = vec![("role:analyst".to_string(), "2026-12".to_string())];
        a.add(&key, 1.5).await.expect("add");
        b.add(&key, 2.0).await.expect("add");
        assert_eq!(a.spent(&key).await.expect("spent"), vec![3.5]);
        assert!(SharedSpend::open("postgres://x").await.is_err());
    }
}

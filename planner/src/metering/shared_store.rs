//! What replicas of a deployment share to hold budgets and concurrency limits together:
//! a SQLite database every replica reaches (by default
//! `<data_dir>/system/coordination.db`, beside the catalog database they already share).
//!
//! Budgets: each finished query adds its cost to a table of spend per subject and
//! period with one upsert (written off the query's path, a few milliseconds after it
//! ends); a query with a hard budget reads its subjects' totals before it runs.
//!
//! Concurrency: a query holding a slot of a `max_concurrent` limit holds a row of the
//! slots table, taken by one conditional insert (atomic in SQLite: no two replicas can
//! both see a free slot), renewed while it runs and deleted when it ends; a replica that
//! dies leaves rows that expire after [`SLOT_LEASE`]. WAL mode and a busy timeout let
//! replicas write at once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// The spend table.
const TABLE: &str = "lakegate_budget_spend";
/// The slots table.
const SLOTS: &str = "lakegate_query_slots";
/// How long a slot outlives its last renewal (a dead replica's slots free after it).
pub(crate) const SLOT_LEASE: Duration = Duration::from_secs(30);

/// The running queries every replica publishes (see shared_runtime.rs).
pub(super) const RUNNING: &str = "lakegate_running_queries";
/// Kill requests for queries another replica runs.
pub(super) const KILLS: &str = "lakegate_kill_requests";

async fn create_runtime_tables(pool: &SqlitePool) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {RUNNING} (query_id TEXT PRIMARY KEY, replica TEXT NOT NULL, \
         user_name TEXT NOT NULL, roles TEXT, protocol TEXT NOT NULL, session_id INTEGER NOT NULL, \
         client_addr TEXT NOT NULL, query TEXT, started_ms INTEGER NOT NULL, state TEXT NOT NULL, \
         updated_ms INTEGER NOT NULL)"
    ))
    .execute(pool)
    .await?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {KILLS} (query_id TEXT PRIMARY KEY, message TEXT NOT NULL, \
         requested_ms INTEGER NOT NULL)"
    ))
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The shared store.
#[derive(Debug, Clone)]
pub struct SharedStore {
    pub(super) pool: SqlitePool,
}

impl SharedStore {
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
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {SLOTS} (holder TEXT PRIMARY KEY, subject TEXT NOT NULL, \
             expires_ms INTEGER NOT NULL)"
        ))
        .execute(&pool)
        .await
        .map_err(|e| format!("[finops] shared_store {url}: {e}"))?;
        create_runtime_tables(&pool)
            .await
            .map_err(|e| format!("[finops] shared_store {url}: {e}"))?;
        Ok(Self { pool })
    }

    /// Takes one of `slots` slots of `subject` for `holder`, if one is free across
    /// replicas (expired slots do not count).
    pub(crate) async fn try_take_slot(
        &self,
        subject: &str,
        slots: usize,
        holder: &str,
    ) -> sqlx::Result<bool> {
        let now = now_ms();
        let taken = sqlx::query(&format!(
            "INSERT INTO {SLOTS} (holder, subject, expires_ms) \
             SELECT ?1, ?2, ?3 WHERE (SELECT count(*) FROM {SLOTS} \
             WHERE subject = ?2 AND expires_ms > ?4) < ?5"
        ))
        .bind(holder)
        .bind(subject)
        .bind(now + SLOT_LEASE.as_millis() as i64)
        .bind(now)
        .bind(slots as i64)
        .execute(&self.pool)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Keeps `holders`' slots for another lease.
    pub(crate) async fn renew_slots(&self, holders: &[String]) -> sqlx::Result<()> {
        for holder in holders {
            sqlx::query(&format!(
                "UPDATE {SLOTS} SET expires_ms = ?1 WHERE holder = ?2"
            ))
            .bind(now_ms() + SLOT_LEASE.as_millis() as i64)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Gives `holders`' slots back (and forgets slots long expired).
    pub(crate) async fn release_slots(&self, holders: &[String]) -> sqlx::Result<()> {
        for holder in holders {
            sqlx::query(&format!("DELETE FROM {SLOTS} WHERE holder = ?1"))
                .bind(holder)
                .execute(&self.pool)
                .await?;
        }
        sqlx::query(&format!("DELETE FROM {SLOTS} WHERE expires_ms < ?1"))
            .bind(now_ms() - SLOT_LEASE.as_millis() as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
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
        let a = SharedStore::open(&url).await.expect("a");
        let b = SharedStore::open(&url).await.expect("b");
        let key = vec![("role:analyst".to_string(), "2026-12".to_string())];
        a.add(&key, 1.5).await.expect("add");
        b.add(&key, 2.0).await.expect("add");
        assert_eq!(a.spent(&key).await.expect("spent"), vec![3.5]);
        assert!(SharedStore::open("postgres://x").await.is_err());
    }

    #[tokio::test]
    async fn a_slot_taken_through_one_handle_is_taken_for_all() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite:{}", dir.path().join("coordination.db").display());
        let a = SharedStore::open(&url).await.expect("a");
        let b = SharedStore::open(&url).await.expect("b");
        assert!(a.try_take_slot("role:x", 1, "q1").await.expect("take"));
        assert!(!b.try_take_slot("role:x", 1, "q2").await.expect("full"));
        assert!(
            b.try_take_slot("role:y", 1, "q3")
                .await
                .expect("another subject")
        );
        a.release_slots(&["q1".to_string()]).await.expect("release");
        assert!(
            b.try_take_slot("role:x", 1, "q2")
                .await
                .expect("free again")
        );
    }
}

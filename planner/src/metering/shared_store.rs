//! What replicas of a deployment share to hold budgets and concurrency limits together:
//! a SQLite database every replica reaches (by default
//! `<data_dir>/system/coordination.db`, beside the catalog database they already share),
//! or a PostgreSQL database the operator names (`postgres://…`), for replicas on
//! machines that share no file system.
//!
//! Budgets: each finished query adds its cost to a table of spend per subject and
//! period with one upsert (written off the query's path, a few milliseconds after it
//! ends); a query with a hard budget reads its subjects' totals before it runs.
//!
//! Concurrency: a query holding a slot of a `max_concurrent` limit holds a row of the
//! slots table, taken by one conditional insert, renewed while it runs and deleted when
//! it ends; a replica that dies leaves rows that expire after [`SLOT_LEASE`]. No two
//! replicas can both see a free slot: SQLite runs one writer at a time (WAL mode and a
//! busy timeout let replicas queue), and on PostgreSQL the insert runs in a transaction
//! holding an advisory lock on the subject, so takers of one subject's slots go one at
//! a time.
//!
//! The statements are written once for both databases through sqlx's `Any` driver
//! (`$n` parameters, `ON CONFLICT` upserts, `BIGINT` and `DOUBLE PRECISION` columns,
//! which SQLite reads as its integer and real types).

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Executor, Transaction};

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
/// The distributed workers that joined, with their last heartbeat (shared_workers.rs).
pub(super) const WORKERS: &str = "lakegate_workers";

/// The tables, created when missing.
fn schema() -> [String; 5] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (subject TEXT NOT NULL, period TEXT NOT NULL, \
             spent DOUBLE PRECISION NOT NULL, PRIMARY KEY (subject, period))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {SLOTS} (holder TEXT PRIMARY KEY, subject TEXT NOT NULL, \
             expires_ms BIGINT NOT NULL)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {RUNNING} (query_id TEXT PRIMARY KEY, replica TEXT NOT NULL, \
             user_name TEXT NOT NULL, roles TEXT, protocol TEXT NOT NULL, session_id BIGINT NOT NULL, \
             client_addr TEXT NOT NULL, query TEXT, started_ms BIGINT NOT NULL, state TEXT NOT NULL, \
             updated_ms BIGINT NOT NULL)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {KILLS} (query_id TEXT PRIMARY KEY, message TEXT NOT NULL, \
             requested_ms BIGINT NOT NULL)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {WORKERS} (url TEXT PRIMARY KEY, seen_ms BIGINT NOT NULL)"
        ),
    ]
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Which database holds the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The shared store.
#[derive(Debug, Clone)]
pub struct SharedStore {
    pub(super) pool: AnyPool,
    backend: Backend,
}

impl SharedStore {
    /// Opens the store at `url` (`sqlite:PATH`, created when missing, or
    /// `postgres://USER:PASSWORD@HOST/DATABASE`), creating its tables.
    pub async fn open(url: &str) -> Result<Self, String> {
        let failed = |e: sqlx::Error| format!("[finops] shared_store {}: {e}", redacted_url(url));
        let (backend, connect_url) = if let Some(path) = url.strip_prefix("sqlite:") {
            let file = path.trim_start_matches("//");
            let file = file.split('?').next().unwrap_or(file);
            if let Some(parent) = std::path::Path::new(file).parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let separator = if url.contains('?') { '&' } else { '?' };
            (Backend::Sqlite, format!("{url}{separator}mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(format!(
                "[finops] shared_store must be a sqlite:PATH or postgres://… URL, not {:?}",
                redacted_url(url)
            ));
        };
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Replicas write at once: readers never wait for the writer,
                        // and a writer waits its turn rather than failing.
                        connection.execute("PRAGMA journal_mode = WAL").await?;
                        connection.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect(&connect_url)
            .await
            .map_err(failed)?;
        for statement in schema() {
            sqlx::query(&statement)
                .execute(&pool)
                .await
                .map_err(failed)?;
        }
        Ok(Self { pool, backend })
    }

    /// Takes one of `slots` slots of `subject` for `holder`, if one is free across
    /// replicas (expired slots do not count).
    pub(crate) async fn try_take_slot(
        &self,
        subject: &str,
        slots: usize,
        holder: &str,
    ) -> sqlx::Result<bool> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Under READ COMMITTED two inserts could each count the other's slot as
            // free; the lock makes the takers of one subject's slots go one at a time
            // (released when the transaction ends).
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))::text")
                .bind(subject)
                .execute(&mut *tx)
                .await?;
        }
        let now = now_ms();
        let taken = sqlx::query(&format!(
            "INSERT INTO {SLOTS} (holder, subject, expires_ms) \
             SELECT $1, $2, $3 WHERE (SELECT count(*) FROM {SLOTS} \
             WHERE subject = $2 AND expires_ms > $4) < $5"
        ))
        .bind(holder)
        .bind(subject)
        .bind(now + SLOT_LEASE.as_millis() as i64)
        .bind(now)
        .bind(slots as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Keeps `holders`' slots for another lease.
    pub(crate) async fn renew_slots(&self, holders: &[String]) -> sqlx::Result<()> {
        for holder in holders {
            sqlx::query(&format!(
                "UPDATE {SLOTS} SET expires_ms = $1 WHERE holder = $2"
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
            sqlx::query(&format!("DELETE FROM {SLOTS} WHERE holder = $1"))
                .bind(holder)
                .execute(&self.pool)
                .await?;
        }
        sqlx::query(&format!("DELETE FROM {SLOTS} WHERE expires_ms < $1"))
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
                "INSERT INTO {TABLE} (subject, period, spent) VALUES ($1, $2, $3) \
                 ON CONFLICT (subject, period) DO UPDATE SET spent = {TABLE}.spent + excluded.spent"
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
                "SELECT spent FROM {TABLE} WHERE subject = $1 AND period = $2"
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

/// `url` without its password, for messages and logs.
pub fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
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
        assert!(SharedStore::open("mysql://x").await.is_err());
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

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redacted_url("postgres://lake:s3cret@db.internal:5432/coordination"),
            "postgres://lake:***@db.internal:5432/coordination"
        );
        assert_eq!(
            redacted_url("sqlite:/data/system/coordination.db"),
            "sqlite:/data/system/coordination.db"
        );
        assert_eq!(redacted_url("postgres://lake@db/c"), "postgres://lake@db/c");
    }
}

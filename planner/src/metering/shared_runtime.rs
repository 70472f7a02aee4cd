//! Running queries shared by the replicas of a deployment: each replica publishes its
//! running queries to the shared store every [`PUBLISH_EVERY`], so that
//! `system.runtime.queries` at any replica lists every replica's queries, and a
//! `system.kill_query` at one replica for a query of another leaves a kill request
//! that the owning replica carries out on its next round. Rows of a replica that
//! stopped publishing are ignored after [`STALE_AFTER`].

use std::time::Duration;

use sqlx::Row;

use super::SharedStore;
use super::shared_store::{KILLS, RUNNING, now_ms};

/// How often a replica publishes its running queries and looks for kill requests.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// Rows not refreshed for this long belong to a replica that is gone.
const STALE_AFTER: Duration = Duration::from_secs(5);

/// A query as another replica published it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SharedQuery {
    pub(crate) query_id: String,
    pub(crate) user: String,
    pub(crate) roles: Option<String>,
    pub(crate) protocol: String,
    pub(crate) session_id: i64,
    pub(crate) client: String,
    pub(crate) sql: Option<String>,
    pub(crate) started_ms: i64,
    pub(crate) state: String,
}

impl SharedStore {
    /// Replaces `replica`'s published queries with `queries`.
    pub(crate) async fn publish(&self, replica: &str, queries: &[SharedQuery]) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!("DELETE FROM {RUNNING} WHERE replica = $1"))
            .bind(replica)
            .execute(&mut *tx)
            .await?;
        let now = now_ms();
        for q in queries {
            sqlx::query(&format!(
                "INSERT INTO {RUNNING} (query_id, replica, user_name, roles, protocol, \
                 session_id, client_addr, query, started_ms, state, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (query_id) DO UPDATE SET replica = excluded.replica, \
                 user_name = excluded.user_name, roles = excluded.roles, \
                 protocol = excluded.protocol, session_id = excluded.session_id, \
                 client_addr = excluded.client_addr, query = excluded.query, \
                 started_ms = excluded.started_ms, state = excluded.state, \
                 updated_ms = excluded.updated_ms"
            ))
            .bind(&q.query_id)
            .bind(replica)
            .bind(&q.user)
            .bind(&q.roles)
            .bind(&q.protocol)
            .bind(q.session_id)
            .bind(&q.client)
            .bind(&q.sql)
            .bind(q.started_ms)
            .bind(&q.state)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// The running queries of every other live replica.
    pub(crate) async fn others(&self, replica: &str) -> sqlx::Result<Vec<SharedQuery>> {
        let rows = sqlx::query(&format!(
            "SELECT query_id, user_name, roles, protocol, session_id, client_addr, query, \
             started_ms, state FROM {RUNNING} WHERE replica <> $1 AND updated_ms > $2 \
             ORDER BY started_ms, query_id"
        ))
        .bind(replica)
        .bind(now_ms() - STALE_AFTER.as_millis() as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SharedQuery {
                    query_id: row.try_get(0)?,
                    user: row.try_get(1)?,
                    roles: row.try_get(2)?,
                    protocol: row.try_get(3)?,
                    session_id: row.try_get(4)?,
                    client: row.try_get(5)?,
                    sql: row.try_get(6)?,
                    started_ms: row.try_get(7)?,
                    state: row.try_get(8)?,
                })
            })
            .collect()
    }

    /// Asks the replica running `query_id` to stop it with `message`.
    pub(crate) async fn request_kill(&self, query_id: &str, message: &str) -> sqlx::Result<()> {
        sqlx::query(&format!(
            "INSERT INTO {KILLS} (query_id, message, requested_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (query_id) DO UPDATE SET message = excluded.message, \
             requested_ms = excluded.requested_ms"
        ))
        .bind(query_id)
        .bind(message)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The kill requests for `replica`'s queries, taken (removed) from the store; old
    /// requests for queries that ended are dropped.
    pub(crate) async fn take_kills(&self, replica: &str) -> sqlx::Result<Vec<(String, String)>> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT k.query_id, k.message FROM {KILLS} k JOIN {RUNNING} r \
             ON r.query_id = k.query_id WHERE r.replica = $1"
        ))
        .bind(replica)
        .fetch_all(&mut *tx)
        .await?;
        let mut kills = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get(0)?;
            sqlx::query(&format!("DELETE FROM {KILLS} WHERE query_id = $1"))
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            kills.push((id, row.try_get(1)?));
        }
        sqlx::query(&format!("DELETE FROM {KILLS} WHERE requested_ms < $1"))
            .bind(now_ms() - 60_000)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(kills)
    }
}

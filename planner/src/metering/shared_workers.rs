//! The distributed workers that joined a deployment through its shared store: each
//! worker writes its URL with a heartbeat, and coordinators read the workers heard from
//! lately. A worker that dies stops beating and drops out of the list.

use std::time::Duration;

use super::shared_store::{SharedStore, WORKERS, now_ms};

impl SharedStore {
    /// Says that the worker at `url` is alive now.
    pub async fn worker_heartbeat(&self, url: &str) -> sqlx::Result<()> {
        sqlx::query(&format!(
            "INSERT INTO {WORKERS} (url, seen_ms) VALUES ($1, $2) \
             ON CONFLICT (url) DO UPDATE SET seen_ms = excluded.seen_ms"
        ))
        .bind(url)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the worker at `url` off the list (it is stopping).
    pub async fn worker_leaves(&self, url: &str) -> sqlx::Result<()> {
        sqlx::query(&format!("DELETE FROM {WORKERS} WHERE url = $1"))
            .bind(url)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The workers heard from within `within`, in URL order.
    pub async fn live_workers(&self, within: Duration) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar(&format!(
            "SELECT url FROM {WORKERS} WHERE seen_ms >= $1 ORDER BY url"
        ))
        .bind(now_ms() - within.as_millis() as i64)
        .fetch_all(&self.pool)
        .await
    }
}

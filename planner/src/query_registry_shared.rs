//! The registry of running queries across replicas: publishing this replica's queries
//! to the shared store, listing the others', and killing a query another replica runs
//! (see metering/shared_runtime.rs for the store's side).

use std::sync::{Arc, Weak};

use crate::metering::{PUBLISH_EVERY, SharedQuery, SharedStore};
use crate::query_registry::{KillRefusal, QueryRegistry};

/// How often an unchanged list of running queries is published again.
const REPUBLISH_UNCHANGED: std::time::Duration = std::time::Duration::from_secs(1);

impl QueryRegistry {
    /// Publishes this replica's queries to `store` as `instance`, and carries out the
    /// kill requests left for them, every round while the registry lives.
    pub(crate) fn share(self: &Arc<Self>, store: SharedStore, instance: String) {
        if self.shared.set((store.clone(), instance.clone())).is_err() {
            return;
        }
        let registry: Weak<QueryRegistry> = Arc::downgrade(self);
        tokio::spawn(async move {
            // What was published last, and when: an unchanged list is published again
            // only often enough to stay fresh (others drop rows older than 5 s).
            let mut last: Option<(Vec<SharedQuery>, std::time::Instant)> = None;
            loop {
                tokio::time::sleep(PUBLISH_EVERY).await;
                let Some(registry) = registry.upgrade() else {
                    let _ = store.publish(&instance, &[]).await;
                    return;
                };
                let queries: Vec<SharedQuery> = registry
                    .list()
                    .iter()
                    .map(|q| SharedQuery {
                        query_id: q.who.id.clone(),
                        user: q.who.user.clone(),
                        roles: (!q.who.roles.is_empty()).then(|| q.who.roles.join(",")),
                        protocol: q.who.protocol.clone(),
                        session_id: q.who.session_id as i64,
                        client: q.who.client.clone(),
                        sql: q.who.sql.clone(),
                        started_ms: q.started_at.timestamp_millis(),
                        state: q.state().name().to_string(),
                    })
                    .collect();
                let fresh = last.as_ref().is_some_and(|(published, at)| {
                    *published == queries && at.elapsed() < REPUBLISH_UNCHANGED
                });
                if !fresh {
                    if let Err(e) = store.publish(&instance, &queries).await {
                        tracing::warn!(error = %e, "running queries could not be shared");
                        continue;
                    }
                    last = Some((queries.clone(), std::time::Instant::now()));
                }
                // Kill requests can only be for queries this replica runs.
                if queries.is_empty() {
                    continue;
                }
                match store.take_kills(&instance).await {
                    Ok(kills) => {
                        for (id, message) in kills {
                            if registry.kill(&id, message, |_| true).is_ok() {
                                tracing::info!(query_id = %id, "query killed from another replica");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "kill requests could not be read"),
                }
            }
        });
    }

    /// The queries the other replicas run now (none without a shared store, or when it
    /// cannot be read).
    pub(crate) async fn others(&self) -> Vec<SharedQuery> {
        let Some((store, instance)) = self.shared.get() else {
            return Vec::new();
        };
        store.others(instance).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "other replicas' queries cannot be read");
            Vec::new()
        })
    }

    /// Asks the replica running `id` to stop it, when `may_kill` allows it for the
    /// query's owner; returns the owner.
    pub(crate) async fn kill_elsewhere(
        &self,
        id: &str,
        message: &str,
        may_kill: impl FnOnce(&str) -> bool,
    ) -> Result<String, KillRefusal> {
        let query = self
            .others()
            .await
            .into_iter()
            .find(|q| q.query_id == id)
            .ok_or(KillRefusal::NotRunning)?;
        if !may_kill(&query.user) {
            return Err(KillRefusal::NotRunning);
        }
        let Some((store, _)) = self.shared.get() else {
            return Err(KillRefusal::NotRunning);
        };
        store.request_kill(id, message).await.map_err(|e| {
            tracing::warn!(error = %e, "a kill request could not be written");
            KillRefusal::NotRunning
        })?;
        Ok(query.user)
    }
}

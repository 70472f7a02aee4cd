//! The workers a coordinator sends stages to: those `[distributed] workers` names, and
//! those that joined through the shared store (`gateway worker`), read again in the
//! background so that planning never waits on the store.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use datafusion::error::DataFusionError;
use datafusion_distributed::WorkerResolver;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::metering::SharedStore;

/// How often a worker says it is alive, and a coordinator reads the list again.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A worker not heard from for this long is left out.
pub const LIVE_WITHIN: Duration = Duration::from_secs(10);

/// The workers a coordinator knows now.
#[derive(Debug, Clone, Default)]
pub struct Workers {
    /// Named in the configuration.
    fixed: Vec<Url>,
    /// Joined through the shared store, as last read.
    joined: Arc<RwLock<Vec<Url>>>,
}

impl Workers {
    /// The workers at `urls`, and no others until [`Workers::follow`].
    pub fn fixed(urls: Vec<Url>) -> Self {
        Self {
            fixed: urls,
            joined: Arc::default(),
        }
    }

    /// Every worker known now, each once.
    pub fn urls(&self) -> Vec<Url> {
        let joined = self.joined.read().unwrap_or_else(|e| e.into_inner());
        let mut urls = self.fixed.clone();
        for url in joined.iter() {
            if !urls.contains(url) {
                urls.push(url.clone());
            }
        }
        urls
    }

    /// Reads the workers that joined through `store` now and every [`HEARTBEAT`] until
    /// `stop`.
    pub async fn follow(&self, store: SharedStore, stop: CancellationToken) {
        let joined = self.joined.clone();
        let read = move |store: SharedStore| {
            let joined = joined.clone();
            async move {
                match store.live_workers(LIVE_WITHIN).await {
                    Ok(urls) => {
                        let urls: Vec<Url> = urls
                            .iter()
                            .filter_map(|u| match Url::parse(u) {
                                Ok(url) => Some(url),
                                Err(error) => {
                                    tracing::warn!(url = %u, %error, "a joined worker's URL is not valid");
                                    None
                                }
                            })
                            .collect();
                        let mut known = joined.write().unwrap_or_else(|e| e.into_inner());
                        if *known != urls {
                            tracing::info!(workers = urls.len(), "distributed workers changed");
                            *known = urls;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "reading the distributed workers from the shared store")
                    }
                }
            }
        };
        read(store.clone()).await;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(HEARTBEAT) => read(store.clone()).await,
                }
            }
        });
    }
}

impl WorkerResolver for Workers {
    fn get_urls(&self) -> Result<Vec<Url>, DataFusionError> {
        Ok(self.urls())
    }
}

/// Keeps the worker at `url` on the shared list every [`HEARTBEAT`] until `stop`, then
/// takes it off. The first heartbeat is written before this returns, so a store that
/// cannot be reached fails the worker's start.
pub async fn join(
    store: SharedStore,
    url: Url,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, String> {
    store
        .worker_heartbeat(url.as_str())
        .await
        .map_err(|e| format!("joining the shared store: {e}"))?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(HEARTBEAT) => {
                    if let Err(error) = store.worker_heartbeat(url.as_str()).await {
                        tracing::warn!(%error, "the worker's heartbeat did not reach the shared store");
                    }
                }
            }
        }
        if let Err(error) = store.worker_leaves(url.as_str()).await {
            tracing::warn!(%error, "the worker could not leave the shared store");
        }
    }))
}

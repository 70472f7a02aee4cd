//! `gateway worker`: a distributed worker of a deployment, and the coordinator's side of
//! the configuration (`[distributed]`). A worker reads the same configuration as the
//! gateways (catalogs and their object stores, `[flight] secret_file`, `[finops]
//! shared_store`), listens for stages of secured plans from coordinators, checks that
//! each request is signed with the shared keys, and joins the shared store with a
//! heartbeat so that coordinators find it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use datafusion::execution::memory_pool::MemoryPool;
use lakegate_catalog::CatalogRegistry;
use lakegate_planner::SharedStore;
use lakegate_planner::distributed::{Distribution, Workers, join, serve_worker, worker_url};
use lakegate_security::signer::Signer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::Config;

/// The shared keys coordinators and workers sign and check requests with.
fn signer(config: &Config) -> anyhow::Result<Signer> {
    let path = config.flight.secret_file.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "distributed execution needs [flight] secret_file, the keys coordinators and \
             workers share"
        )
    })?;
    Signer::from_file(path).map_err(|e| anyhow::anyhow!("the Flight SQL secret file {path}: {e}"))
}

/// The shared store's URL, with `<data_dir>` filled in.
fn store_url(config: &Config, url: &str) -> String {
    url.replace("<data_dir>", &config.data_dir)
}

/// A coordinator's distributed execution as `[distributed]` configures it (the workers
/// that join through the shared store are followed once the store is open).
pub fn distribution(config: &Config) -> anyhow::Result<Distribution> {
    let urls = config
        .distributed
        .workers
        .iter()
        .map(|u| Url::parse(u).with_context(|| format!("[distributed] workers: {u:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Distribution::new(
        Workers::fixed(urls),
        config.distributed.threshold_bytes,
        config.distributed.files_per_task,
        signer(config)?,
    ))
}

/// How `gateway worker` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    /// Address to listen on (`HOST:PORT`; port 0 picks one).
    pub listen: String,
    /// The URL coordinators dial, when it is not `http://` + the bound address.
    pub advertise: Option<String>,
    /// The shared store to join (overrides `[finops] shared_store`).
    pub join: Option<String>,
}

/// A worker serving in the background.
#[derive(Debug)]
pub struct StartedWorker {
    /// The URL coordinators reach it by.
    pub url: Url,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The memory pool its tasks reserve from: what the stages running on it hold.
    pub memory: Arc<dyn MemoryPool>,
    /// Ends when the worker stops (after `shutdown`), with its error if it failed.
    pub done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts a worker: binds its listener, opens the catalogs' stores, joins the shared
/// store (when there is one) and serves until `shutdown`.
pub async fn start_worker(
    config: &Config,
    options: &WorkerOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<StartedWorker> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let signer = signer(config)?;
    let registry = CatalogRegistry::open(&config.effective_catalogs())
        .await
        .context("opening catalogs")?;
    let runtime = lakegate_planner::worker_runtime(
        &config.query.memory_limits(&config.data_dir),
        config.query.metadata_cache_mb,
        registry.object_stores(),
    )
    .map_err(|e| anyhow::anyhow!("building the worker's runtime: {e}"))?;
    let listener = TcpListener::bind(&options.listen)
        .await
        .with_context(|| format!("binding the worker listener to {}", options.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let url = worker_url(addr, options.advertise.as_deref()).map_err(|e| anyhow::anyhow!(e))?;
    let store = options
        .join
        .as_deref()
        .or(config.finops.shared_store.as_deref())
        .map(|u| store_url(config, u));
    let heartbeat = match &store {
        Some(store_url) => {
            let store = SharedStore::open(store_url)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            let beat = join(store, url.clone(), shutdown.clone())
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            tracing::info!(
                %url,
                store = %lakegate_planner::redacted_url(store_url),
                "the worker joined the shared store"
            );
            Some(beat)
        }
        None => None,
    };
    tracing::info!(%addr, %url, "distributed worker listening");
    let memory = runtime.memory_pool.clone();
    let done = tokio::spawn(async move {
        let served = serve_worker(listener, runtime, signer, shutdown).await;
        if let Some(beat) = heartbeat {
            let _ = beat.await;
        }
        served.context("serving the worker")
    });
    Ok(StartedWorker {
        url,
        addr,
        memory,
        done,
    })
}

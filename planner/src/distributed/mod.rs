//! Distributed execution on datafusion-distributed: the gateway plans and secures a
//! query as always, and workers run stages of its physical plan. This module holds what
//! the plan needs to travel ([`codec`]), the gateway's side ([`coordinator`]: cut the
//! plan into stages, add the workers' figures to the query's meter; [`build_sides`]:
//! joins that collect a build side, kept whole in every task), which workers
//! there are ([`workers`]), how a worker knows a request came from a coordinator
//! ([`auth`]) and the workers' service ([`worker`]). The statement pipeline routes a
//! query here in `pipeline/route.rs`.

pub mod auth;
mod build_sides;
pub mod codec;
pub mod coordinator;
pub mod worker;
pub mod workers;

use datafusion::prelude::SessionConfig;
use datafusion_distributed::DistributedExt;
use lakegate_security::signer::Signer;

pub use codec::{GatewayCodec, worker_functions};
pub use coordinator::{WorkerWork, add_worker_figures, distribute};
pub use worker::{serve_worker, worker, worker_url};
pub use workers::{Workers, join};

/// A coordinator's distributed execution: its workers, the estimate from which a query
/// goes to them, and the keys its requests to them are signed with.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// The workers stages are sent to.
    pub workers: Workers,
    /// Bytes a query's estimate must reach to run on the workers (with
    /// `gateway.distributed = auto`).
    pub threshold_bytes: u64,
    /// Files (or byte ranges of a split file) per task of a scanning stage; 0:
    /// datafusion-distributed's default, the number of cores.
    pub files_per_task: usize,
    /// Connections to the workers, each request signed with the deployment's keys;
    /// shared by every session.
    channels: auth::SignedChannels,
}

impl Distribution {
    /// Distribution to `workers`, signing requests with `signer` (the keys of
    /// `[flight] secret_file`, which the workers share).
    pub fn new(
        workers: Workers,
        threshold_bytes: u64,
        files_per_task: usize,
        signer: Signer,
    ) -> Self {
        Self {
            workers,
            threshold_bytes,
            files_per_task,
            channels: auth::SignedChannels::new(signer),
        }
    }

    /// `config` with what cutting a plan into stages and running them needs: the
    /// workers, signed connections to them, the gateway's codec, and the workers'
    /// metrics sent back (the query's meter adds them up).
    pub(crate) fn configure(&self, config: SessionConfig) -> SessionConfig {
        let mut config = config
            .with_distributed_worker_resolver(self.workers.clone())
            .with_distributed_channel_resolver(self.channels.clone())
            .with_distributed_user_codec(GatewayCodec);
        if let Err(error) = config.set_distributed_metrics_collection(true) {
            tracing::warn!(%error, "the workers' metrics are not collected");
        }
        // The gateway joins small build sides whole (`CollectLeft`, ENGINE_DEFAULTS);
        // on the workers each task of the probe side receives the build side.
        if let Err(error) = config.set_distributed_broadcast_joins(true) {
            tracing::warn!(%error, "broadcast joins are not distributed");
        }
        if self.files_per_task > 0
            && let Err(error) = config.set_distributed_files_per_task(self.files_per_task)
        {
            tracing::warn!(%error, "[distributed] files_per_task not set");
        }
        config
    }
}

#[cfg(test)]
mod loopback_tests;
#[cfg(test)]
mod tests;

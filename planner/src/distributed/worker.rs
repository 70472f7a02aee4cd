//! A distributed worker of this gateway: datafusion-distributed's worker service, whose
//! sessions resolve the gateway's plan nodes ([`GatewayCodec`]) and the functions a
//! shipped plan may call ([`worker_functions`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion_distributed::{DistributedExt, Worker, WorkerQueryContext, WorkerSessionBuilder};

use super::codec::{GatewayCodec, worker_functions};

/// Builds each task's session on a worker.
#[derive(Debug, Clone, Copy)]
struct GatewaySessions;

#[async_trait]
impl WorkerSessionBuilder for GatewaySessions {
    async fn build_session_state(
        &self,
        ctx: WorkerQueryContext,
    ) -> Result<SessionState, DataFusionError> {
        Ok(ctx
            .builder
            .with_scalar_functions(worker_functions().values().cloned().collect())
            .with_distributed_user_codec(GatewayCodec)
            .build())
    }
}

/// A worker that runs stages of the gateway's plans over `runtime`'s object stores.
pub fn worker(runtime: Arc<RuntimeEnv>) -> Worker {
    Worker::from_session_builder(GatewaySessions).with_runtime_env(runtime)
}

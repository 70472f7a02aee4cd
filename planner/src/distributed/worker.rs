//! A distributed worker of this gateway: datafusion-distributed's worker service, whose
//! sessions resolve the gateway's plan nodes ([`GatewayCodec`]) and the functions a
//! shipped plan may call ([`worker_functions`]), behind a check of every request's
//! signed token ([`super::auth`]).

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion_distributed::{DistributedExt, Worker, WorkerQueryContext, WorkerSessionBuilder};
use lakegate_security::signer::Signer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::auth::{SignedChannels, TOKEN_HEADER, check};
use super::codec::{GatewayCodec, worker_functions};

/// Builds each task's session on a worker: the gateway's codec and functions, and
/// signed connections to the other workers whose stages its tasks read.
#[derive(Debug, Clone)]
struct GatewaySessions {
    channels: SignedChannels,
}

#[async_trait]
impl WorkerSessionBuilder for GatewaySessions {
    async fn build_session_state(
        &self,
        ctx: WorkerQueryContext,
    ) -> Result<SessionState, DataFusionError> {
        Ok(ctx
            .builder
            .with_scalar_functions(worker_functions().scalar.values().cloned().collect())
            .with_aggregate_functions(worker_functions().aggregate.values().cloned().collect())
            .with_window_functions(worker_functions().window.values().cloned().collect())
            .with_distributed_user_codec(GatewayCodec)
            .with_distributed_channel_resolver(self.channels.clone())
            .build())
    }
}

/// A worker that runs stages of the gateway's plans over `runtime`'s object stores,
/// signing its requests to other workers with `signer`.
pub fn worker(runtime: Arc<RuntimeEnv>, signer: Signer) -> Worker {
    Worker::from_session_builder(GatewaySessions {
        channels: SignedChannels::new(signer),
    })
    .with_runtime_env(runtime)
}

/// Serves a worker on `listener` until `shutdown`, refusing every request whose token
/// `signer`'s keys did not sign (gRPC UNAUTHENTICATED, before the plan is decoded).
pub async fn serve_worker(
    listener: TcpListener,
    runtime: Arc<RuntimeEnv>,
    signer: Signer,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let guarded = tonic::service::interceptor::InterceptedService::new(
        worker(runtime, signer.clone()).into_worker_server(),
        move |request: tonic::Request<()>| {
            let token = request
                .metadata()
                .get(TOKEN_HEADER)
                .and_then(|v| v.to_str().ok());
            if let Err(refused) = check(&signer, token) {
                tracing::warn!(reason = %refused.message(), "a request to the worker was refused");
                return Err(refused);
            }
            Ok(request)
        },
    );
    tonic::transport::Server::builder()
        .add_service(guarded)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown.cancelled_owned(),
        )
        .await
}

/// The URL coordinators reach a worker listening at `addr` by: `advertise` when given,
/// else the address itself (a wildcard address is not reachable; it needs `advertise`).
pub fn worker_url(addr: SocketAddr, advertise: Option<&str>) -> Result<url::Url, String> {
    let text = match advertise {
        Some(url) => url.to_string(),
        None if addr.ip().is_unspecified() => {
            return Err(format!(
                "the worker listens on {addr}, which coordinators cannot dial: \
                 give --advertise http://HOST:{}",
                addr.port()
            ));
        }
        None => format!("http://{addr}"),
    };
    url::Url::parse(&text).map_err(|e| format!("worker URL {text:?}: {e}"))
}

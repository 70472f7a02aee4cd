//! The Arrow Flight SQL frontend: the same `QueryService`, security and audit path as
//! Postgres wire, answering with Arrow record batches streamed as Flight data.
//!
//! Clients authenticate once with Basic credentials in the handshake and get a signed,
//! expiring bearer token (`auth`). GetFlightInfo plans a statement and returns a ticket
//! signed for the caller (`ticket`); DoGet redeems it and streams the result without
//! collecting it. Prepared statements (`prepared`, `params`) take parameters by DoPut.
//! Metadata commands list the principal's own view of the catalogs (`metadata`). DoGet
//! results are written as prebuilt gRPC frames around the batches' memory
//! (`direct_get`, `ipc_frames`), optionally LZ4- or ZSTD-compressed on request.

mod auth;
mod cancel;
mod connections;
mod direct_get;
mod ipc_frames;
mod metadata;
mod params;
mod plain_types;
mod prepared;
mod service;
mod sql_info;
mod status;
mod stream_slots;
mod ticket;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arrow_flight::flight_service_server::FlightServiceServer;
use futures::StreamExt;
use lakegate_planner::QueryService;
use lakegate_security::UserStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::config::FlightConfig;
use auth::{Authenticator, Signer};
use cancel::FlightCancels;
use metadata::StaticInfo;
use prepared::PreparedStatements;
use service::{FlightSqlEndpoint, FlightState};

pub use service::COMPRESSION_KEY;
pub use status::SQLSTATE_KEY;

/// A configured Flight SQL frontend, ready to serve.
#[derive(Debug)]
pub struct FlightFrontend {
    state: Arc<FlightState>,
    /// Certificate chain and key (PEM), checked at construction.
    tls: Option<(Vec<u8>, Vec<u8>)>,
    max_connections: usize,
}

impl FlightFrontend {
    /// Builds the frontend; a bad secret file or TLS file stops the start with a
    /// message naming it.
    pub fn new(
        service: Arc<QueryService>,
        users: Arc<UserStore>,
        config: &FlightConfig,
        throttle: Arc<crate::login_throttle::LoginThrottle>,
        external: &lakegate_security::external::ExternalLogins,
    ) -> anyhow::Result<Self> {
        let signer = match &config.secret_file {
            Some(path) => Signer::from_file(path)
                .map_err(|e| anyhow::anyhow!("the Flight SQL secret file {path}: {e}"))?,
            None => Signer::random(),
        };
        let tls = match &config.tls {
            Some(tls) => {
                let checked = crate::pg::tls::check_pem(&tls.cert, &tls.key)?;
                Some((checked.cert_pem, checked.key_pem))
            }
            None => None,
        };
        let state = FlightState {
            service,
            prepared: PreparedStatements::new(signer.clone(), config.max_prepared_per_user),
            auth: Authenticator::new(
                signer,
                users,
                Duration::from_secs(config.token_ttl_seconds.max(1)),
                throttle,
            )
            .with_external(external),
            ticket_ttl: Duration::from_secs(config.ticket_ttl_seconds.max(1)),
            running: Arc::new(FlightCancels::default()),
            info: StaticInfo::new().context("building the Flight SQL info tables")?,
            streams: stream_slots::StreamSlots::new(config.max_streams_per_user),
            max_message_bytes: config.max_message_bytes,
        };
        Ok(Self {
            state: Arc::new(state),
            tls,
            max_connections: config.max_connections,
        })
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) {
        let limit = connections::ConnectionLimit::new(
            self.max_connections,
            self.state.service.metrics().clone(),
        );
        let endpoint = FlightSqlEndpoint {
            state: self.state.clone(),
        };
        let generated = FlightServiceServer::new(endpoint)
            .max_decoding_message_size(self.state.max_message_bytes);
        let service = direct_get::DirectGet::new(generated, self.state, limit.clone());
        let mut builder = Server::builder()
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(Duration::from_secs(30)));
        if let Some((cert, key)) = self.tls {
            builder = match builder
                .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
            {
                Ok(builder) => builder,
                Err(error) => {
                    tracing::error!(%error, "Flight SQL TLS configuration refused; not serving");
                    return;
                }
            };
        }
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .filter_map(move |accepted| {
                std::future::ready(match accepted {
                    Ok(tcp) => limit.admit(tcp).map(Ok),
                    Err(error) => Some(Err(error)),
                })
            });
        if let Err(error) = builder
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled())
            .await
        {
            tracing::error!(%error, "Flight SQL server stopped");
        }
    }
}

//! Per-connection protocol handlers and the listener loop.
//!
//! Each accepted socket gets its own handlers holding that connection's session, so
//! settings, cursors and prepared statements never leak between connections.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use lakegate_planner::QueryService;
use lakegate_security::UserStore;
use pgwire::api::auth::DefaultServerParameterProvider;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ClientInfo, ErrorHandler, METADATA_USER, PgWireServerHandlers};
use pgwire::error::PgWireError;
use pgwire::tokio::TlsAcceptor;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admission::Admission;
use super::cancel::{CancelRegistry, Canceller};
use super::connection::Connection;
use super::inbound::MessageLimits;
use super::query::{QueryHandler, StatementParser};
use super::startup::GatewayStartup;
use super::tls::Tls;
use crate::config::PgConfig;
use crate::login_throttle::LoginThrottle;
use lakegate_planner::ErrorKind;

/// How long shutdown waits for open connections to finish their current work.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The Postgres wire frontend: shared state for every connection.
pub struct PgFrontend {
    service: Arc<QueryService>,
    users: Arc<UserStore>,
    cancels: Arc<CancelRegistry>,
    startup: Arc<GatewayStartup>,
    tls: Option<TlsAcceptor>,
    limits: MessageLimits,
    admission: Arc<Admission>,
}

impl PgFrontend {
    /// A frontend over a query service and a user store, authenticating and limiting
    /// messages as `pg` says and, with `tls`, offering TLS (and SCRAM-SHA-256-PLUS).
    pub fn new(
        service: Arc<QueryService>,
        users: Arc<UserStore>,
        default_schema: &str,
        pg: &PgConfig,
        tls: Option<Tls>,
        throttle: Arc<LoginThrottle>,
        external: Option<Arc<lakegate_security::external::ExternalLogins>>,
    ) -> anyhow::Result<Self> {
        let auth = pg.auth;
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = lakegate_pg_compat::SERVER_VERSION.to_string();
        parameters.is_superuser = false;
        parameters.search_path = default_schema.to_string();
        parameters.time_zone = "UTC".to_string();
        parameters.date_style = "ISO, MDY".to_string();
        let startup = GatewayStartup::new(
            parameters,
            users.clone(),
            auth,
            tls.as_ref().map(|t| t.cert_pem.as_slice()),
            tls.as_ref().is_some_and(|t| t.require),
            external.clone(),
        )
        .map_err(|e| anyhow::anyhow!("configuring SCRAM channel binding: {e}"))?;
        let admission = Arc::new(Admission::new(
            pg,
            throttle,
            users.clone(),
            external.is_some(),
        ));
        Ok(Self {
            service,
            users,
            cancels: Arc::new(CancelRegistry::default()),
            startup: Arc::new(startup),
            tls: tls.map(|t| t.acceptor),
            limits: MessageLimits {
                max_message_bytes: pg.max_message_bytes,
                stall_timeout: Duration::from_millis(pg.message_stall_ms),
            },
            admission,
        })
    }

    /// Accepts connections until `shutdown` fires, then waits (bounded) for open
    /// connections to finish.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let handlers = ConnectionHandlers::new(&self);
            let query = handlers.query.clone();
            let tls = self.tls.clone();
            let shutdown = shutdown.clone();
            let metrics = self.service.metrics().clone();
            let limits = self.limits;
            let place = self.admission.arrive();
            tracker.spawn(async move {
                tracing::debug!(%peer, "connection opened");
                metrics.connection("postgres", 1);
                tokio::select! {
                    result = AssertUnwindSafe(
                        super::connection_loop::serve_connection(
                            socket, tls, handlers, query, limits, place,
                        ),
                    )
                    .catch_unwind() => {
                        match result {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                            // Messages reach pgwire checked (inbound.rs); should any
                            // code still panic, only this connection ends.
                            Err(_) => tracing::error!(%peer, "connection task panicked"),
                        }
                    }
                    _ = shutdown.cancelled() => {
                        // Give the connection time to finish what it is sending.
                        tokio::time::sleep(DRAIN_TIMEOUT).await;
                    }
                }
                metrics.connection("postgres", -1);
                tracing::debug!(%peer, "connection closed");
            });
        }
        tracker.close();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait()).await;
    }
}

/// The handlers of one connection.
struct ConnectionHandlers {
    query: Arc<QueryHandler>,
    cancel: Arc<Canceller>,
    startup: Arc<GatewayStartup>,
    throttle: Arc<LoginThrottle>,
}

impl ConnectionHandlers {
    fn new(frontend: &PgFrontend) -> Self {
        let connection = Arc::new(Connection {
            service: frontend.service.clone(),
            users: frontend.users.clone(),
            cancels: frontend.cancels.clone(),
            key: std::sync::Mutex::new(None),
            session: Mutex::new(None),
        });
        Self {
            query: Arc::new(QueryHandler {
                parser: Arc::new(StatementParser {
                    connection: connection.clone(),
                }),
                connection,
            }),
            startup: frontend.startup.clone(),
            cancel: Arc::new(Canceller {
                registry: frontend.cancels.clone(),
            }),
            throttle: frontend.admission.throttle.clone(),
        }
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(ConnectionErrors {
            throttle: self.throttle.clone(),
        })
    }
}

/// Completes and logs errors before they reach the client; counts failed logins.
struct ConnectionErrors {
    throttle: Arc<LoginThrottle>,
}

impl ErrorHandler for ConnectionErrors {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if let PgWireError::UserError(info) = error
            && (info.message.starts_with(super::auth::TOKEN_REFUSED)
                || info.message.starts_with(super::auth::LDAP_REFUSED))
        {
            let user = client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default();
            self.throttle
                .failed(&user, client.socket_addr().ip(), "postgres", &info.message);
            tracing::info!(user, reason = %info.message, "external login refused");
        }
        if let PgWireError::InvalidPassword(user) = error {
            // A failed SCRAM proof is reported without the user; name the login.
            let user = if user.is_empty() {
                client
                    .metadata()
                    .get(METADATA_USER)
                    .cloned()
                    .unwrap_or_default()
            } else {
                user.clone()
            };
            let reason = format!("password authentication failed for user \"{user}\"");
            self.throttle
                .failed(&user, client.socket_addr().ip(), "postgres", &reason);
            // PostgreSQL's own words, which drivers and their users recognise.
            *error = super::errors::fatal(ErrorKind::InvalidPassword, reason);
        }
    }
}

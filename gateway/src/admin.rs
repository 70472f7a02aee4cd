//! The admin HTTP endpoint: health, and policy reload for principals the policy grants
//! the `admin` action on `system.admin.policy`.
//!
//! `GET /healthz` → 200. `GET /readyz` → 200, or 503 once shutting down or while the
//! audit trail cannot be written (no statement runs then). `GET /metrics`
//! → the query metrics in Prometheus' text format. `POST /policy/reload` with HTTP Basic credentials → 200 when
//! the new policy is in force, 422 with the error when it does not load (the last good
//! policy stays), 401 without valid credentials, 403 without the grant.
//! `POST /policy/rollback?version=N` (same credentials and grant) puts a version listed
//! in `system.security.policy_versions` back in force → 200 with the new version's
//! number, 422 when there is no such version or it no longer loads.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use lakegate_security::UserStore;
use lakegate_security::audit::AuditLog;
use lakegate_security::policy::PolicyStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The object an admin grant must match to reload the policy.
pub const POLICY_OBJECT: &str = "system.admin.policy";

/// Shared state of the admin endpoint.
pub struct Admin {
    users: Arc<UserStore>,
    policy: Arc<PolicyStore>,
    metrics: Arc<lakegate_planner::Metrics>,
    /// The audit trail, whose health readiness follows.
    audit: Arc<AuditLog>,
    /// Cancelled when the gateway starts shutting down: no longer ready.
    stopping: CancellationToken,
}

impl Admin {
    /// An endpoint over the user store, the policy and the query metrics.
    pub fn new(
        users: Arc<UserStore>,
        policy: Arc<PolicyStore>,
        metrics: Arc<lakegate_planner::Metrics>,
        audit: Arc<AuditLog>,
        stopping: CancellationToken,
    ) -> Self {
        Self {
            users,
            policy,
            metrics,
            audit,
            stopping,
        }
    }

    /// Serves until `shutdown` fires.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, peer)) = accepted else {
                continue;
            };
            let admin = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.handle(request, peer).await) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "admin connection error");
                }
            });
        }
    }

    async fn handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        match (request.method(), request.uri().path()) {
            (&Method::GET, "/healthz") => reply(StatusCode::OK, "ok\n"),
            // Listening means catalogs, policy and history are open; shutting down
            // means new work should go elsewhere.
            (&Method::GET, "/readyz") if self.stopping.is_cancelled() => {
                reply(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            }
            (&Method::GET, "/readyz") => match self.audit.health() {
                Ok(()) => reply(StatusCode::OK, "ready\n"),
                Err(why) => reply(StatusCode::SERVICE_UNAVAILABLE, &format!("{why}\n")),
            },
            (&Method::GET, "/metrics") => {
                let mut response = reply(StatusCode::OK, &self.metrics.render());
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                response
            }
            (&Method::POST, "/policy/reload") => {
                let user = match self.policy_admin(&request, peer) {
                    Ok(user) => user,
                    Err(refused) => return *refused,
                };
                match self.policy.reload_by(&format!("reload by {user}")).await {
                    Ok(()) => {
                        tracing::info!(%peer, user, "policy reloaded through the admin endpoint");
                        reply(StatusCode::OK, "{\"status\":\"reloaded\"}\n")
                    }
                    Err(e) => reply(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &format!("{{\"error\":{}}}\n", json_string(&e.to_string())),
                    ),
                }
            }
            (&Method::POST, "/policy/rollback") => {
                let user = match self.policy_admin(&request, peer) {
                    Ok(user) => user,
                    Err(refused) => return *refused,
                };
                let version = request.uri().query().and_then(|query| {
                    query
                        .split('&')
                        .find_map(|pair| pair.strip_prefix("version="))
                        .and_then(|v| v.parse::<u64>().ok())
                });
                let Some(version) = version else {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        "{\"error\":\"name the version: POST /policy/rollback?version=N \
                         (see system.security.policy_versions)\"}\n",
                    );
                };
                match self.policy.rollback(version, &user).await {
                    Ok(new) => {
                        tracing::info!(%peer, user, version, new, "policy rolled back through the admin endpoint");
                        reply(
                            StatusCode::OK,
                            &format!("{{\"status\":\"rolled back\",\"version\":{new}}}\n"),
                        )
                    }
                    Err(e) => reply(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &format!("{{\"error\":{}}}\n", json_string(&e.to_string())),
                    ),
                }
            }
            _ => reply(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// The user of a policy request, or the response refusing it (401 without valid
    /// credentials, 403 without the admin grant on [`POLICY_OBJECT`]).
    fn policy_admin(
        &self,
        request: &Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<String, Box<Response<Full<Bytes>>>> {
        let Some(user) = self.authenticate(request) else {
            tracing::info!(%peer, "admin request refused: bad credentials");
            let mut response = reply(
                StatusCode::UNAUTHORIZED,
                "{\"error\":\"valid credentials required\"}\n",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"gateway admin\""),
            );
            return Err(Box::new(response));
        };
        if !self.policy.permits(
            &user,
            lakegate_security::policy::Action::Administer(POLICY_OBJECT),
        ) {
            tracing::info!(%peer, user, "admin request refused: no admin grant");
            return Err(Box::new(reply(
                StatusCode::FORBIDDEN,
                &format!("{{\"error\":\"{user} may not administer the policy\"}}\n"),
            )));
        }
        Ok(user)
    }

    fn authenticate(&self, request: &Request<Incoming>) -> Option<String> {
        let value = request
            .headers()
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let encoded = value.strip_prefix("Basic ")?;
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        self.users
            .verify_password(user, password)
            .map(|principal| principal.user)
    }
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

//! One Postgres wire connection's state: its session, opened on the first statement
//! for the authenticated user, and the key a CancelRequest names it by.

use std::sync::Arc;

use lakegate_planner::{ClientOrigin, ErrorKind, QueryService, Session};
use lakegate_security::UserStore;
use pgwire::api::{ClientInfo, METADATA_USER};
use pgwire::error::PgWireResult;
use pgwire::messages::startup::SecretKey;
use tokio::sync::{Mutex, MutexGuard};

use super::cancel::CancelRegistry;
use super::errors::user_error;

/// One connection's state.
pub(crate) struct Connection {
    pub(crate) service: Arc<QueryService>,
    pub(crate) users: Arc<UserStore>,
    pub(crate) cancels: Arc<CancelRegistry>,
    /// The key the client cancels with, once known.
    pub(crate) key: std::sync::Mutex<Option<(i32, SecretKey)>>,
    /// Opened on the first statement, after authentication succeeded.
    pub(crate) session: Mutex<Option<Session>>,
}

impl Connection {
    pub(crate) async fn session<C: ClientInfo>(
        &self,
        client: &C,
    ) -> PgWireResult<MutexGuard<'_, Option<Session>>> {
        let mut guard = self.session.lock().await;
        if guard.is_none() {
            let user = client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default();
            // A token login's principal is the token's; otherwise the configuration's.
            let from_token = client
                .metadata()
                .get(super::startup::METADATA_PRINCIPAL)
                .and_then(|json| serde_json::from_str(json).ok());
            let principal = from_token
                .or_else(|| self.users.principal(&user))
                .ok_or_else(|| {
                    user_error(
                        ErrorKind::InvalidAuthorization,
                        format!("role \"{user}\" is not permitted to log in"),
                    )
                })?;
            let origin = ClientOrigin {
                address: client.socket_addr().to_string(),
                protocol: "postgres",
            };
            *guard = Some(self.service.open_session(principal, origin));
            *self.key.lock().unwrap_or_else(|e| e.into_inner()) = Some(client.pid_and_secret_key());
        }
        Ok(guard)
    }

    /// Starts a statement on `session`: from now on a CancelRequest cancels it.
    pub(crate) fn begin(&self, session: &mut Session) {
        let token = session.begin_statement();
        if let Some((pid, secret)) = self.key.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            self.cancels.set(*pid, secret, token);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some((pid, secret)) = self.key.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            self.cancels.remove(*pid, secret);
        }
    }
}

pub(crate) fn open<'a>(
    guard: &'a mut MutexGuard<'_, Option<Session>>,
) -> PgWireResult<&'a mut Session> {
    guard
        .as_mut()
        .ok_or_else(|| user_error(ErrorKind::ConnectionDoesNotExist, "session is not open"))
}

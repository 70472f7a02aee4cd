//! What a Postgres wire listener admits: connections in total and per user, logins
//! after repeated failures (the throttle both front doors share), and how long a
//! connection may take to log in or stay idle.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lakegate_planner::ErrorKind;
use lakegate_security::UserStore;
use pgwire::error::PgWireError;

use super::errors::fatal;
use super::message_check::FirstPassword;
use super::startup::first_password;
use crate::config::{AuthMethod, PgConfig};
use crate::login_throttle::LoginThrottle;

/// A listener's limits and the connections counted against them.
pub(crate) struct Admission {
    max_connections: usize,
    max_per_user: usize,
    open: AtomicUsize,
    /// Connections open per user (when limited).
    per_user: Mutex<HashMap<String, usize>>,
    pub(crate) throttle: Arc<LoginThrottle>,
    /// The listener's password method and users: which exchange a login starts.
    method: AuthMethod,
    users: Arc<UserStore>,
    /// External logins on (`[auth.jwt]`, `[auth.ldap]`): users not in the configuration
    /// send a token or their directory password as a cleartext password.
    tokens: bool,
    pub(crate) authentication_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    /// How often a running statement checks that its client is still there.
    pub(crate) client_check: Option<Duration>,
}

impl Admission {
    pub(crate) fn new(
        pg: &PgConfig,
        throttle: Arc<LoginThrottle>,
        users: Arc<UserStore>,
        tokens: bool,
    ) -> Self {
        Self {
            max_connections: pg.max_connections,
            max_per_user: pg.max_connections_per_user,
            open: AtomicUsize::new(0),
            per_user: Mutex::new(HashMap::new()),
            throttle,
            method: pg.auth,
            users,
            tokens,
            authentication_timeout: Duration::from_secs(pg.authentication_timeout_seconds),
            idle_timeout: (pg.idle_session_timeout_seconds > 0)
                .then(|| Duration::from_secs(pg.idle_session_timeout_seconds)),
            client_check: (pg.client_connection_check_ms > 0)
                .then(|| Duration::from_millis(pg.client_connection_check_ms)),
        }
    }

    /// A connection that has just been accepted: counted when there is room for it.
    pub(crate) fn arrive(self: &Arc<Self>) -> Place {
        let counted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max_connections).then_some(open + 1)
            })
            .is_ok();
        Place {
            admission: self.clone(),
            counted,
            user: None,
        }
    }
}

/// One connection's place in the listener's counts, given back when it is dropped.
pub(crate) struct Place {
    admission: Arc<Admission>,
    counted: bool,
    /// The user it is counted for, once its startup packet named one.
    user: Option<String>,
}

impl Place {
    /// The listener's limits.
    pub(crate) fn admission(&self) -> &Arc<Admission> {
        &self.admission
    }

    /// Admits the startup packet of `user` from `address`: there is room for another
    /// connection, in total and for the user, and the user and address are not locked
    /// out by failed logins. Returns what the user's first password message holds.
    pub(crate) fn admit(
        &mut self,
        user: &str,
        address: IpAddr,
    ) -> Result<FirstPassword, PgWireError> {
        if !self.counted {
            return Err(fatal(
                ErrorKind::TooManyConnections,
                "sorry, too many clients already",
            ));
        }
        let admission = &self.admission;
        admission
            .throttle
            .check(user, address, "postgres")
            .map_err(|refusal| fatal(ErrorKind::InvalidAuthorization, refusal))?;
        if admission.max_per_user > 0 && self.user.is_none() {
            let mut users = admission.per_user.lock().unwrap_or_else(|e| e.into_inner());
            let open = users.entry(user.to_string()).or_default();
            if *open >= admission.max_per_user {
                return Err(fatal(
                    ErrorKind::TooManyConnections,
                    format!("too many connections for role \"{user}\""),
                ));
            }
            *open += 1;
            self.user = Some(user.to_string());
        }
        Ok(first_password(
            admission.method,
            &admission.users,
            user,
            admission.tokens,
        ))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.counted {
            self.admission.open.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(user) = &self.user {
            let mut users = self
                .admission
                .per_user
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(open) = users.get_mut(user) {
                *open -= 1;
                if *open == 0 {
                    users.remove(user);
                }
            }
        }
    }
}

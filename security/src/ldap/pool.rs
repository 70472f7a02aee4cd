//! Connections to the directory: opened over TLS (ldaps:// or StartTLS) with the
//! process's rustls provider, each exchange under a timeout, and kept in a small pool
//! between logins. A login holds its connection alone (a bind changes who the
//! connection is), and every login binds before it reads anything.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::LdapLoginError;

/// LDAP result code of a bind with wrong credentials (or no such entry).
const INVALID_CREDENTIALS: u32 = 49;
/// LDAP result code of a search whose base does not exist.
const NO_SUCH_OBJECT: u32 = 32;

/// The TLS settings: the system's roots, and those of `ca_file`.
pub(super) fn tls_config(ca_file: Option<&str>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(file) = ca_file {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(file)
            .map_err(|e| format!("[auth.ldap] ca_file {file}: {e}"))?
        {
            let cert = cert.map_err(|e| format!("[auth.ldap] ca_file {file}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("[auth.ldap] ca_file {file}: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("[auth.ldap] ca_file {file} holds no certificate"));
        }
    }
    // The process's provider (the gateway installs aws-lc-rs), else aws-lc-rs itself.
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    Ok(Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("[auth.ldap] TLS settings: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Idle connections, and how to open more.
pub(super) struct Pool {
    url: String,
    start_tls: bool,
    tls: Option<Arc<ClientConfig>>,
    size: usize,
    timeout: Duration,
    idle: Mutex<Vec<Ldap>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("url", &self.url)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(super) fn new(
        url: String,
        start_tls: bool,
        tls: Option<Arc<ClientConfig>>,
        size: usize,
        timeout: Duration,
    ) -> Self {
        Self {
            url,
            start_tls,
            tls,
            size,
            timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection that is still open, or a new one.
    pub(super) async fn take(&self) -> Result<Connection, LdapError> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match idle {
                Some(mut ldap) => {
                    if !ldap.is_closed() {
                        return Ok(Connection {
                            ldap,
                            timeout: self.timeout,
                        });
                    }
                }
                None => break,
            }
        }
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.start_tls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (driver, ldap) = tokio::time::timeout(
            self.timeout,
            LdapConnAsync::with_settings(settings, &self.url),
        )
        .await
        .map_err(|_| {
            LdapError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting took longer than {:?}", self.timeout),
            ))
        })??;
        tokio::spawn(async move {
            if let Err(e) = driver.drive().await {
                tracing::debug!(error = %e, "LDAP connection closed");
            }
        });
        Ok(Connection {
            ldap,
            timeout: self.timeout,
        })
    }

    /// Keeps `connection` for the next login, if there is room.
    pub(super) fn give_back(&self, mut connection: Connection) {
        if connection.ldap.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.size {
            idle.push(connection.ldap);
        }
    }
}

/// One connection, held by one login.
pub(super) struct Connection {
    ldap: Ldap,
    timeout: Duration,
}

impl Connection {
    /// A simple bind as `dn`: refused for wrong credentials, unavailable when the
    /// directory does not answer.
    pub(super) async fn bind(&mut self, dn: &str, password: &str) -> Result<(), LdapLoginError> {
        let result = self
            .ldap
            .with_timeout(self.timeout)
            .simple_bind(dn, password)
            .await
            .map_err(transport)?;
        match result.rc {
            0 => Ok(()),
            INVALID_CREDENTIALS => Err(LdapLoginError::Refused("invalid credentials".into())),
            rc => Err(LdapLoginError::Refused(format!(
                "the directory refused the bind (result {rc}{})",
                if result.text.is_empty() {
                    String::new()
                } else {
                    format!(": {}", result.text)
                }
            ))),
        }
    }

    /// An anonymous bind (an anonymous search follows).
    pub(super) async fn anonymous(&mut self) -> Result<(), LdapLoginError> {
        let result = self
            .ldap
            .with_timeout(self.timeout)
            .simple_bind("", "")
            .await
            .map_err(transport)?;
        if result.rc == 0 {
            Ok(())
        } else {
            Err(LdapLoginError::Unavailable(format!(
                "the directory refused an anonymous search bind (result {})",
                result.rc
            )))
        }
    }

    /// The entries of a search (none when its base does not exist).
    pub(super) async fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: &[&str],
    ) -> Result<Vec<SearchEntry>, LdapLoginError> {
        // No attribute asked for: "1.1", the LDAP way of asking for none.
        let attributes: Vec<&str> = if attributes.is_empty() {
            vec!["1.1"]
        } else {
            attributes.to_vec()
        };
        let result = self
            .ldap
            .with_timeout(self.timeout)
            .search(base, scope, filter, attributes)
            .await
            .map_err(transport)?;
        match result.1.rc {
            0 => {}
            NO_SUCH_OBJECT => return Ok(Vec::new()),
            rc => {
                return Err(LdapLoginError::Unavailable(format!(
                    "a search of {base} failed (result {rc}: {})",
                    result.1.text
                )));
            }
        }
        result
            .0
            .into_iter()
            .map(|entry| {
                // ldap3 panics on an entry it cannot decode: a refusal, not a crash.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    SearchEntry::construct(entry)
                }))
                .map_err(|_| {
                    LdapLoginError::Unavailable(
                        "the directory sent an entry that cannot be read".into(),
                    )
                })
            })
            .collect()
    }
}

fn transport(error: LdapError) -> LdapLoginError {
    LdapLoginError::Unavailable(error.to_string())
}

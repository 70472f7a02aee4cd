//! TLS for the Postgres listener: the certificate chain and key are read from PEM files
//! at start-up, and any problem with them stops the start (never a silent fall-back to
//! plain text).

use std::path::Path;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

/// A configured acceptor and the certificate chain it presents (SCRAM-SHA-256-PLUS binds
/// to the server certificate).
pub struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) require: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("require", &self.require)
            .finish()
    }
}

/// Loads and checks the certificate and key.
pub fn load(config: &TlsConfig) -> anyhow::Result<Tls> {
    let checked = check_pem(&config.cert, &config.key)?;
    let mut server = checked.server;
    // PostgreSQL 17 clients may start TLS directly (sslnegotiation=direct) with this ALPN.
    server.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        cert_pem: checked.cert_pem,
        require: config.require,
    })
}

/// A certificate chain and key read from PEM files and proven to fit together.
pub(crate) struct CheckedPem {
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
    pub(crate) server: rustls::ServerConfig,
}

/// Reads the PEM files and builds a server configuration from them; every error names
/// the file it is about.
pub(crate) fn check_pem(cert: &str, key: &str) -> anyhow::Result<CheckedPem> {
    let read = |path: &str, what: &str| {
        std::fs::read(Path::new(path))
            .map_err(|e| anyhow::anyhow!("reading the TLS {what} {path}: {e}"))
    };
    let cert_pem = read(cert, "certificate")?;
    let key_pem = read(key, "private key")?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("parsing the TLS certificate {cert}: {e}"))?;
    if chain.is_empty() {
        anyhow::bail!("no certificate in {cert}");
    }
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| anyhow::anyhow!("parsing the TLS private key {key}: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS protocol versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| {
            anyhow::anyhow!("the TLS key {key} does not fit the certificate {cert}: {e}")
        })?;
    Ok(CheckedPem {
        cert_pem,
        key_pem,
        server,
    })
}

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
    let read = |path: &str, what: &str| {
        std::fs::read(Path::new(path))
            .map_err(|e| anyhow::anyhow!("reading the TLS {what} {path}: {e}"))
    };
    let cert_pem = read(&config.cert, "certificate")?;
    let key_pem = read(&config.key, "private key")?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("parsing the TLS certificate {}: {e}", config.cert))?;
    if chain.is_empty() {
        anyhow::bail!("no certificate in {}", config.cert);
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| anyhow::anyhow!("parsing the TLS private key {}: {e}", config.key))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS protocol versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            anyhow::anyhow!(
                "the TLS key {} does not fit the certificate {}: {e}",
                config.key,
                config.cert
            )
        })?;
    // PostgreSQL 17 clients may start TLS directly (sslnegotiation=direct) with this ALPN.
    server.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        cert_pem,
        require: config.require,
    })
}

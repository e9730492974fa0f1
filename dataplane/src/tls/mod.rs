//! TLS termination for the API listener.
//!
//! - [`policy`]: versions, suites, ALPN and resumption, from config (pure).
//! - [`certificate`]: PEM bytes to a validated certificate (pure).
//! - [`source`]: reading the files, kubelet's `..data` layout included.
//! - [`store`]: the served certificate behind an `ArcSwap`, rustls' resolver.
//! - [`reload`]: the watcher that swaps in rotated certificates.
//! - [`self_signed`]: the ephemeral certificate of `serve --self-signed`.
//!
//! May depend on, in this crate: `config`, `metrics`, `shutdown`, `watch`.

pub mod certificate;
pub mod policy;
pub mod reload;
pub mod self_signed;
pub mod source;
pub mod store;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use rustls::ServerConfig;

use self::{certificate::CertificateError, reload::Reloader, source::CertSource, store::CertStore};
use crate::{config, metrics::Metrics};

/// Why TLS could not be set up at start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// No certificate is configured although HTTPS is required.
    #[error(
        "no certificate configured: set tls.certDir (or TLS_CERT_PATH and TLS_KEY_PATH), or use --self-signed"
    )]
    NoCertificate,
    /// The certificate files could not be read.
    #[error("cannot read the certificate: {0}")]
    Read(#[source] std::io::Error),
    /// The certificate files were read but are not usable.
    #[error("the certificate is not usable: {0}")]
    Certificate(#[source] CertificateError),
    /// The ephemeral certificate could not be generated.
    #[error("cannot generate a self-signed certificate: {0}")]
    SelfSigned(#[source] rcgen::Error),
    /// rustls refused the policy.
    #[error("TLS policy rejected: {0}")]
    Policy(#[source] rustls::Error),
}

/// The API listener's TLS, ready to accept handshakes.
pub struct ServerTls {
    /// The one `ServerConfig` of the listener.
    pub config: Arc<ServerConfig>,
    /// The served certificate.
    pub store: Arc<CertStore>,
    /// Keeps `store` in step with the files; `None` for a self-signed certificate.
    pub reloader: Option<Reloader>,
}

impl ServerTls {
    /// Sets up TLS as `tls` says, loading the first certificate; `Ok(None)`
    /// when `requireHttps` is off and no certificate is configured.
    pub fn from_config(tls: &config::Tls, metrics: &Metrics) -> Result<Option<Self>, TlsError> {
        let provider = Arc::new(policy::crypto_provider(tls));
        let source = CertSource::from_config(tls);
        let pem = match &source {
            _ if tls.self_signed => {
                self_signed::generate(&self_signed::LOCAL_NAMES).map_err(TlsError::SelfSigned)?
            }
            Some(source) => source.read().map_err(TlsError::Read)?,
            None if tls.require_https => return Err(TlsError::NoCertificate),
            None => return Ok(None),
        };
        let first = certificate::parse(&pem, &provider).map_err(TlsError::Certificate)?;
        tracing::info!(subject = %first.subject, not_after = first.not_after, "serving certificate");
        metrics.certificate_not_after.set(first.not_after);
        let store = Arc::new(CertStore::new(first));
        let config =
            policy::server_config(tls, Arc::clone(&store) as _).map_err(TlsError::Policy)?;
        let reloader = source
            .filter(|_| !tls.self_signed)
            .map(|s| Reloader::new(s, Arc::clone(&store), provider, metrics.clone()));
        Ok(Some(Self {
            config,
            store,
            reloader,
        }))
    }
}

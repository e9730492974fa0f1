//! The certificate currently served: one `ArcSwap`, read by every handshake
//! through rustls' [`ResolvesServerCert`], replaced whole by the reloader. The
//! `ServerConfig` around it never changes, so session tickets, the session
//! cache and ALPN survive every rotation, and open connections are untouched.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::{
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use super::certificate::Certificate;

/// The served certificate, swappable while handshakes read it.
#[derive(Debug)]
pub struct CertStore {
    current: ArcSwap<Certificate>,
}

impl CertStore {
    /// A store serving `first`. There is no empty store: the server does not
    /// start without a certificate.
    pub fn new(first: Certificate) -> Self {
        Self {
            current: ArcSwap::from_pointee(first),
        }
    }

    /// The certificate new handshakes get.
    pub fn current(&self) -> Arc<Certificate> {
        self.current.load_full()
    }

    /// Serves `next` to every handshake from now on.
    pub fn replace(&self, next: Certificate) {
        self.current.store(Arc::new(next));
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.load().key))
    }
}

//! Certificate hot reload: watch the certificate's directories, re-check
//! periodically in case an event was missed, and swap in a new certificate
//! only once it is complete and valid.
//!
//! ```text
//!  inotify event ─┐                  unchanged ─▶ nothing
//!                 ├─▶ read ─▶ digest ─ changed ─▶ validate ─ ok ──▶ swap, count reload
//!  periodic tick ─┘                                         └ bad ─▶ keep old, log, count failure
//! ```

use std::{sync::Arc, time::Duration};

use rustls::crypto::CryptoProvider;

use super::{certificate, source::CertSource, store::CertStore};
use crate::{
    metrics::{CERTIFICATE_READ_FAILURE, Metrics},
    shutdown::Shutdown,
    watch,
};

/// What one check of the files did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The files hold the certificate already served (or already rejected).
    Unchanged,
    /// A new certificate is now served.
    Swapped,
    /// The files changed but were rejected; the old certificate still serves.
    Rejected,
}

/// Keeps a [`CertStore`] in step with its [`CertSource`].
pub struct Reloader {
    source: CertSource,
    store: Arc<CertStore>,
    provider: Arc<CryptoProvider>,
    metrics: Metrics,
    last_rejected: Option<[u8; 32]>,
}

impl Reloader {
    /// A reloader of `store` from `source`, validating with `provider`.
    pub fn new(
        source: CertSource,
        store: Arc<CertStore>,
        provider: Arc<CryptoProvider>,
        metrics: Metrics,
    ) -> Self {
        Self {
            source,
            store,
            provider,
            metrics,
            last_rejected: None,
        }
    }

    /// Reads the files once and swaps in their certificate if it is new and valid.
    pub fn check(&mut self) -> Outcome {
        let pem = match self.source.read() {
            Ok(pem) => pem,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the certificate; still serving the previous one");
                Metrics::count_failure(
                    &self.metrics.certificate_reload_failures,
                    CERTIFICATE_READ_FAILURE,
                );
                return Outcome::Rejected;
            }
        };
        let fingerprint = pem.fingerprint();
        if fingerprint == self.store.current().fingerprint
            || Some(fingerprint) == self.last_rejected
        {
            return Outcome::Unchanged;
        }
        match certificate::parse(&pem, &self.provider) {
            Ok(cert) => {
                tracing::info!(subject = %cert.subject, not_after = cert.not_after, "certificate reloaded");
                self.metrics.certificate_not_after.set(cert.not_after);
                self.metrics.certificate_reloads.inc();
                self.store.replace(cert);
                self.last_rejected = None;
                Outcome::Swapped
            }
            Err(e) => {
                tracing::error!(error = %e, "certificate change rejected; still serving the previous one");
                Metrics::count_failure(&self.metrics.certificate_reload_failures, e.label());
                self.last_rejected = Some(fingerprint);
                Outcome::Rejected
            }
        }
    }

    /// Checks on every change in the watched directories and every
    /// `interval`, until `shutdown`.
    pub async fn run(mut self, interval: Duration, shutdown: Shutdown) {
        let dirs = self.source.watched_dirs();
        watch::on_change(&dirs, "certificate files", interval, shutdown, || {
            self.check();
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testing::self_signed_pair;

    fn reloader(dir: &std::path::Path) -> (Reloader, Arc<CertStore>, Metrics) {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let source = CertSource::Dir {
            dir: dir.to_owned(),
            ca: None,
        };
        let first = certificate::parse(&source.read().expect("reads"), &provider).expect("valid");
        let store = Arc::new(CertStore::new(first));
        let metrics = Metrics::new();
        let r = Reloader::new(source, Arc::clone(&store), provider, metrics.clone());
        (r, store, metrics)
    }

    fn write(dir: &std::path::Path, pem: &certificate::PemPair) {
        std::fs::write(dir.join("tls.crt"), &pem.cert).expect("write");
        std::fs::write(dir.join("tls.key"), &pem.key).expect("write");
    }

    #[test]
    fn new_valid_pair_is_swapped_in_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), &self_signed_pair("one"));
        let (mut r, store, metrics) = reloader(dir.path());
        assert_eq!(r.check(), Outcome::Unchanged);
        let next = self_signed_pair("two");
        write(dir.path(), &next);
        assert_eq!(r.check(), Outcome::Swapped);
        assert_eq!(store.current().fingerprint, next.fingerprint());
        assert_eq!(r.check(), Outcome::Unchanged);
        assert_eq!(metrics.certificate_reloads.get(), 1);
    }

    #[test]
    fn mismatched_pair_keeps_the_old_certificate_and_counts_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = self_signed_pair("one");
        write(dir.path(), &first);
        let (mut r, store, metrics) = reloader(dir.path());
        let mut bad = self_signed_pair("two");
        bad.key = first.key.clone();
        write(dir.path(), &bad);
        assert_eq!(r.check(), Outcome::Rejected);
        assert_eq!(
            r.check(),
            Outcome::Unchanged,
            "same bad files are not re-reported"
        );
        assert_eq!(store.current().fingerprint, first.fingerprint());
        assert!(metrics.encode().contains("reason=\"mismatch\"} 1"));
    }
}

//! Turning PEM bytes into a certificate the server may present: pure checks,
//! no files. A pair is accepted only when the chain parses, the key parses,
//! the key matches the leaf and, when a CA is configured, the chain verifies
//! against it.

use std::sync::Arc;

use rustls::{
    RootCertStore,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject},
    server::ParsedCertificate,
    sign::CertifiedKey,
};
use sha2::{Digest, Sha256};

/// The PEM inputs of one certificate load, as read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemPair {
    /// The certificate chain, leaf first.
    pub cert: Vec<u8>,
    /// The private key of the leaf.
    pub key: Vec<u8>,
    /// The CA bundle the chain must verify against, if one is configured.
    pub ca: Option<Vec<u8>>,
}

impl PemPair {
    /// A digest of all inputs, to notice when nothing changed.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [
            &self.cert[..],
            &self.key[..],
            self.ca.as_deref().unwrap_or(&[]),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }
}

/// A validated certificate chain and key, ready to be presented.
#[derive(Debug)]
pub struct Certificate {
    /// What rustls presents.
    pub key: Arc<CertifiedKey>,
    /// The leaf's `notAfter`, in seconds since the Unix epoch.
    pub not_after: i64,
    /// The leaf's subject, for logs.
    pub subject: String,
    /// [`PemPair::fingerprint`] of the inputs.
    pub fingerprint: [u8; 32],
}

/// Why a certificate and key were not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The certificate file holds no PEM certificate.
    #[error("no certificate found in the certificate file")]
    NoCertificate,
    /// A PEM section is damaged or a certificate is not valid DER X.509.
    #[error("certificate chain does not parse: {0}")]
    BadChain(String),
    /// The key file holds no usable private key.
    #[error("private key does not parse: {0}")]
    BadKey(String),
    /// The key is not the one the leaf certificate was issued for.
    #[error("private key does not match the certificate: {0}")]
    Mismatch(rustls::Error),
    /// The chain does not lead to the configured CA.
    #[error("certificate is not issued by the configured CA: {0}")]
    Untrusted(String),
}

impl CertificateError {
    /// Every [`CertificateError::label`].
    pub const LABELS: [&str; 5] = ["empty", "chain", "key", "mismatch", "untrusted"];

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::NoCertificate => "empty",
            Self::BadChain(_) => "chain",
            Self::BadKey(_) => "key",
            Self::Mismatch(_) => "mismatch",
            Self::Untrusted(_) => "untrusted",
        }
    }
}

/// Validates `pem` and builds the certificate rustls will present.
pub fn parse(pem: &PemPair, provider: &CryptoProvider) -> Result<Certificate, CertificateError> {
    let chain = CertificateDer::pem_slice_iter(&pem.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertificateError::BadChain(e.to_string()))?;
    let leaf = chain.first().ok_or(CertificateError::NoCertificate)?;
    let mut not_after = 0;
    let mut subject = String::new();
    let mut leaf_spki = Vec::new();
    let mut leaf_v1 = false;
    for (i, der) in chain.iter().enumerate() {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| CertificateError::BadChain(format!("certificate {i}: {e}")))?;
        if i == 0 {
            not_after = cert.validity().not_after.timestamp();
            subject = cert.subject().to_string();
            leaf_spki = cert.public_key().raw.to_vec();
            leaf_v1 = cert.version() == x509_parser::x509::X509Version::V1;
        }
    }
    if let Some(ca) = &pem.ca {
        verify_issuer(leaf, &chain[1..], ca, provider)?;
    }
    let key = PrivateKeyDer::from_pem_slice(&pem.key)
        .map_err(|e| CertificateError::BadKey(e.to_string()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| CertificateError::BadKey(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    if leaf_v1 {
        // rustls checks the pair by parsing the leaf as webpki does, which
        // takes X.509 v3 only; a v1 leaf (what the security guide's
        // `openssl x509 -req -signkey` makes) is checked here instead.
        let matches = certified
            .key
            .public_key()
            .is_some_and(|spki| spki.as_ref() == leaf_spki.as_slice());
        if !matches {
            return Err(CertificateError::Mismatch(rustls::Error::InconsistentKeys(
                rustls::InconsistentKeys::KeyMismatch,
            )));
        }
        tracing::warn!(
            %subject,
            "the certificate is X.509 v1, without extensions (as `openssl x509 -req` makes it): served, \
             but clients that require v3 and subjectAltName (browsers, rustls, Go) will refuse it"
        );
    } else {
        certified.keys_match().map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => CertificateError::Mismatch(e),
            other => CertificateError::BadKey(other.to_string()),
        })?;
    }
    Ok(Certificate {
        key: Arc::new(certified),
        not_after,
        subject,
        fingerprint: pem.fingerprint(),
    })
}

fn verify_issuer(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    ca_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<(), CertificateError> {
    let untrusted = |e: &dyn std::fmt::Display| CertificateError::Untrusted(e.to_string());
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(ca.map_err(|e| untrusted(&e))?)
            .map_err(|e| untrusted(&e))?;
    }
    if roots.is_empty() {
        return Err(untrusted(&"the CA file holds no certificate"));
    }
    let parsed = ParsedCertificate::try_from(leaf).map_err(|e| untrusted(&e))?;
    rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &roots,
        intermediates,
        UnixTime::now(),
        provider.signature_verification_algorithms.all,
    )
    .map_err(|e| untrusted(&e))
}

#[cfg(test)]
mod tests;

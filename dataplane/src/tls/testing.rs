//! Certificates for unit tests.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use super::{certificate::PemPair, self_signed};

/// A self-signed leaf for `name` and its key.
pub fn self_signed_pair(name: &str) -> PemPair {
    self_signed::generate(&[name]).expect("rcgen generates a certificate")
}

/// A leaf for `name` issued by a fresh CA, and the CA's PEM certificate.
pub fn issued_by(name: &str) -> (PemPair, Vec<u8>) {
    let mut ca_params = CertificateParams::new(Vec::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec![name.to_owned()])
        .expect("leaf params")
        .signed_by(&key, &ca)
        .expect("leaf certificate");
    let pair = PemPair {
        cert: leaf.pem().into_bytes(),
        key: key.serialize_pem().into_bytes(),
        ca: None,
    };
    (pair, ca.pem().into_bytes())
}

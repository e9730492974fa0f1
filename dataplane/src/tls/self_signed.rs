//! The ephemeral certificate of `serve --self-signed`: ECDSA P-256, like the
//! certificates cert-manager and the operator issue, valid for the names a
//! local client uses.

use super::certificate::PemPair;

/// Names the ephemeral certificate is valid for.
pub const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// How long the ephemeral certificate is valid.
const VALIDITY: time::Duration = time::Duration::days(30);

/// Generates a self-signed certificate for `names`, valid from a minute ago
/// for [`VALIDITY`], and its key.
pub fn generate(names: &[&str]) -> Result<PemPair, rcgen::Error> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names)?;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + VALIDITY;
    let signing_key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&signing_key)?;
    Ok(PemPair {
        cert: cert.pem().into_bytes(),
        key: signing_key.serialize_pem().into_bytes(),
        ca: None,
    })
}
